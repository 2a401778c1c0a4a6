"""The ``gmlp`` cell: a gMLP block whose Spatial Gating Unit mixes the neighbourhood.

Liu et al. 2021 ("Pay Attention to MLPs"): ``Z = GELU(LN(X)·U)``, split Z into Z1, Z2,
``s(Z) = Z1 ⊙ (W·LN(Z2) + b)``, output ``s(Z)·V``. Here the tokens are the K neighbour
positions and only the centre cell's row is the update, so only one row of W is live:
W is stored as K weights (``shared``) or K×(d/2) weights (``depthwise``) and nothing else.

Two equal forms:
- ``forward([B, N, K, C]) -> [B, N, C]``: the reference, evaluated literally per cell.
- ``lattice_forward([B, X, Y, Z, C], geometry)``: U as a 1×1×1 map over the lattice, the
  gate as a depthwise 3×3×3 conv of LN(Z2) with the kernel scattered into the
  neighbourhood's stencil, ``Δs = V(Z1 ⊙ g)``. Outside a zero boundary the state is zero,
  whose LN(Z2) is a constant vector; the conv pads with exactly that constant.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from aa_core.plugin import stencil_conv

from .config import GMLPCellConfig


class GMLPCell(nn.Module):
    def __init__(self, config: GMLPCellConfig, geometry):
        super().__init__()
        assert config.channels is not None and config.hidden is not None, "config.check() fills them from the preset"
        C, d = config.channels, config.hidden
        self.config = config
        self.channels = C
        self.hidden = d
        self.half_width = h = d // 2  # not `half`: that would shadow nn.Module.half()
        self.k = geometry.k
        self.center = geometry.center_index
        self.ln_in = nn.LayerNorm(C)
        self.proj_in = nn.Linear(C, d)  # U
        self.ln_gate = nn.LayerNorm(h)
        rows = 1 if config.gate_kernel == "shared" else h
        eps = config.init_eps / self.k  # as lucidrains/g-mlp-pytorch: ±eps/seq, bias 1
        self.gate_weight = nn.Parameter(torch.empty(rows, self.k).uniform_(-eps, eps))  # W (live row)
        self.gate_bias = nn.Parameter(torch.ones(rows))  # b
        self.proj_out = nn.Linear(h, C)  # V
        if config.zero_init:
            nn.init.zeros_(self.proj_out.weight)
            nn.init.zeros_(self.proj_out.bias)
        self.memory = nn.Linear(2 * C, C) if config.memory_gate else None

    # --- shared pieces ---------------------------------------------------------------
    def _features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-position ``[..., C]`` → (Z1 ``[..., h]``, LN(Z2) ``[..., h]``)."""
        z = F.gelu(self.proj_in(self.ln_in(x)))
        z1, z2 = z.split(self.half_width, dim=-1)
        return z1, self.ln_gate(z2)

    def _finish(self, z1: torch.Tensor, gate: torch.Tensor, state: torch.Tensor) -> torch.Tensor:
        cand = self.proj_out(z1 * gate)  # [..., C]
        if self.memory is None:
            return cand
        zg = torch.sigmoid(self.memory(torch.cat([state, cand], dim=-1)))
        return zg * (torch.tanh(cand) - state)  # GRU-style: s' = (1 - z)s + z·tanh(cand)

    def _gate_matrix(self) -> torch.Tensor:
        """``[h, K]`` gate weights (the shared row broadcast to every gate channel)."""
        return self.gate_weight.expand(self.half_width, self.k)

    # --- reference -------------------------------------------------------------------
    def forward(self, neighbourhood: torch.Tensor) -> torch.Tensor:
        """``[B, N, K, C]`` → ``[B, N, C]``; chunked over N to bound the [B, n, K, d] buffer."""
        B, N, K, C = neighbourhood.shape
        chunk = max(1, (1 << 22) // max(1, B * K * self.hidden))
        return torch.cat([self._reference(neighbourhood[:, i : i + chunk]) for i in range(0, N, chunk)], dim=1)

    def _reference(self, nb: torch.Tensor) -> torch.Tensor:
        z1, z2 = self._features(nb)  # [B, n, K, h] each
        gate = torch.einsum("bnkh,hk->bnh", z2, self._gate_matrix()) + self.gate_bias  # [B, n, h]
        return self._finish(z1[:, :, self.center], gate, nb[:, :, self.center])

    # --- lattice-wide form -----------------------------------------------------------
    def gate_kernel(self, geometry) -> torch.Tensor:
        """``[h, 1, 3, 3, 3]`` depthwise conv kernel: gate weights at the stencil, zero elsewhere."""
        idx = geometry.stencil_positions.to(self.gate_weight.device)
        w = self._gate_matrix()
        kernel = w.new_zeros(self.half_width, 27).index_copy(1, idx, w)
        return kernel.view(self.half_width, 1, 3, 3, 3)

    def lattice_forward(self, grid: torch.Tensor, geometry) -> torch.Tensor:
        """``[B, X, Y, Z, C]`` → ``[B, X, Y, Z, C]``, equal to ``forward`` on the gathered lattice.

        Outside cells hold state 0, whose LN(Z2) is a constant c0 rather than 0. The gate is
        linear, so it is computed on Z2 − c0 (for which the boundary rule's padding is exact)
        plus c0 · Σ_k W_k, through the oneDNN stencil helper (channels-last, any boundary).
        """
        z1, z2 = self._features(grid)  # [B, X, Y, Z, h]
        _, c0 = self._features(grid.new_zeros(self.channels))  # [h]
        kernel = self.gate_kernel(geometry)  # [h, 1, 3, 3, 3]
        bias = self.gate_bias + c0 * self._gate_matrix().sum(-1)  # [h]
        gate = stencil_conv(z2 - c0, kernel, bias, geometry, groups=self.half_width, mask=False)
        return self._finish(z1, gate, grid)


def build(config: GMLPCellConfig, ctx) -> GMLPCell:
    return GMLPCell(config, ctx.geometry)
