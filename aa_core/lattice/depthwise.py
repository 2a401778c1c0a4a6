"""A depthwise-perception NCA cell (3D NCA style, Sudhakaran et al. 2021), built on the stencil helpers.

Per cell: learned depthwise 3×3×3 perception C → m·C (no bias; output channel ``c·m + j`` reads
input channel ``c``), then an MLP m·C → H (act) → C. With C=16, m=4, H=64: 6,928 parameters.
Parameters: m·C·K + (m·C + 1)·H + (H + 1)·C (K = neighbourhood size incl. the cell).

It is the worked example of the generic fast-path mechanism: ``forward`` is the Cell contract
on gathered neighbourhoods; ``lattice_forward`` is the same map, and the NCA propagator picks it
up. No-grad fp32 CPU calls run a fused C++ kernel (:mod:`aa_core.lattice._fused`: stencil and
MLP in one pass, ~7K MAC per cell; the custom op ``aa::depthwise_cell``, which ``torch.compile`` traces
as one node) when it builds here (``use_fused``); otherwise inference
folds the perception into fc1 (one dense oneDNN conv, ~29K MAC per cell) and training uses one
grouped oneDNN conv plus per-cell linears (:mod:`aa_core.lattice.stencil`).
Not registered as a component (the benchmark and tests use it directly).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from . import _fused
from .stencil import pointwise, stencil_conv


class DepthwiseNCACell(nn.Module):
    def __init__(self, geometry, channels: int = 16, multiplier: int = 4, hidden: int = 64):
        super().__init__()
        self.channels = channels
        self.multiplier = multiplier
        self.geometry = geometry
        self.perceive = nn.Parameter(torch.randn(channels * multiplier, 1, 3, 3, 3) / 27**0.5)  # [mC, 1, 3, 3, 3]
        self.fc1 = nn.Linear(channels * multiplier, hidden)
        self.fc2 = nn.Linear(hidden, channels)
        self.use_fused = True  # no-grad fp32 CPU calls take the fused C++ kernel when it builds

    def forward(self, neighbourhood: torch.Tensor) -> torch.Tensor:
        """``[B, N, K, C]`` → ``[B, N, C]``."""
        g, C, m = self.geometry, self.channels, self.multiplier
        w = self.perceive.view(C, m, 27)[:, :, g.stencil_positions.to(self.perceive.device)]  # [C, m, K]
        p = torch.einsum("bnkc,cmk->bncm", neighbourhood, w)
        p = rearrange(p, "b n c m -> b n (c m)")
        return self.fc2(F.relu(self.fc1(p)))

    def folded_kernel(self) -> torch.Tensor:
        """Perception then fc1 is one linear map: a dense ``[H, C, 3, 3, 3]`` kernel."""
        C, m, H = self.channels, self.multiplier, self.fc1.out_features
        w = torch.einsum("hcm,cmk->hck", self.fc1.weight.view(H, C, m), self.perceive.view(C, m, 27))
        return w.reshape(H, C, 3, 3, 3).contiguous()

    def fused_weights(self, geometry) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Weights packed for the fused kernel: perception ``[27, M, C]`` (masked to the
        neighbourhood), fc1 ``[M·C, H]`` (row ``j·C + c`` = perception channel ``c·M + j``),
        b1 ``[H]``, fc2 ``[H, C]``, b2 ``[C]``. Cached until a parameter changes (its version)."""
        if torch.compiler.is_compiling() or self.perceive.is_meta:  # traced: no storage to key a cache on
            return self._pack(geometry)
        params = (self.perceive, self.fc1.weight, self.fc1.bias, self.fc2.weight, self.fc2.bias)
        key = (geometry.k,) + tuple((p.data_ptr(), p._version) for p in params)
        cached = getattr(self, "_fused_cache", None)
        if cached is not None and cached[0] == key:
            return cached[1]
        with torch.no_grad():
            packed = self._pack(geometry)
        self._fused_cache = (key, packed)
        return packed

    def _pack(self, geometry) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        C, m, H = self.channels, self.multiplier, self.fc1.out_features
        w = self.perceive.view(C, m, 27)
        if geometry.k != 27:
            w = w * geometry.stencil_mask().to(w).view(1, 1, 27)
        return (
            w.permute(2, 1, 0).float().contiguous(),  # [27, M, C]
            self.fc1.weight.view(H, C, m).permute(2, 1, 0).reshape(m * C, H).float().contiguous(),
            self.fc1.bias.float().contiguous(),
            self.fc2.weight.t().float().contiguous(),  # [H, C]
            self.fc2.bias.float().contiguous(),
        )

    def lattice_forward(self, grid: torch.Tensor, geometry) -> torch.Tensor:
        """``[B, X, Y, Z, C]`` → ``[B, X, Y, Z, C]``; equal to ``forward`` on the gather.

        No-grad fp32 CPU calls run the fused C++ kernel (:mod:`aa_core.lattice._fused`: the
        depthwise stencil and both linears in one pass, ~7K MAC per cell, as the custom op
        ``aa::depthwise_cell``) when it builds here.
        Otherwise inference folds the (linear) depthwise perception into fc1 and runs one dense oneDNN conv
        C → H: more FLOPs than the grouped conv but far better use of the CPU (one GEMM-like
        kernel instead of a memory-bound grouped conv plus a matmul). Training keeps the grouped
        form (cheaper backward).
        """
        if self.use_fused and _fused.usable(grid, self.channels, self.multiplier, self.fc1.out_features):
            try:
                return _fused.depthwise_forward(grid, *self.fused_weights(geometry), geometry.periodic_axes)
            except Exception as e:  # never let the optional kernel break a forward: warn once, fall back
                _fused.disable(e)
        if not torch.is_grad_enabled():
            h = stencil_conv(grid, self.folded_kernel(), self.fc1.bias, geometry).relu_()  # [B, X, Y, Z, H]
            return pointwise(h, self.fc2.weight, self.fc2.bias)
        p = stencil_conv(grid, self.perceive, None, geometry, groups=self.channels)  # [B, X, Y, Z, mC]
        h = F.relu(pointwise(p, self.fc1.weight, self.fc1.bias))
        return pointwise(h, self.fc2.weight, self.fc2.bias)


def fused_kernel_status() -> str | None:
    """None when the fused C++ depthwise kernel is built and usable here, else why not."""
    return None if _fused.load() is not None else (_fused.error() or "not built")
