"""A Mamba block (Gu & Dao 2023) in plain PyTorch, with ``mamba_ssm.Mamba``'s parameter layout.

``x [B, L, d]`` → in_proj → (x, z) each ``[B, L, E·d]`` → causal depthwise conv1d (d_conv) →
SiLU → selective scan (Δ = softplus(dt_proj(x_proj(x)[:R])), B, C from x_proj) → ``y ⊙ SiLU(z)``
→ out_proj → ``[B, L, d]``.

Parameter names (``in_proj, conv1d, x_proj, dt_proj, A_log, D, out_proj``) and shapes equal
``mamba_ssm.modules.mamba_simple.Mamba`` and transformers' ``MambaMixer``, so one state dict
loads into either with ``strict=True``. Backends: ``"cpu"`` = :func:`aa_mamba.scan.selective_scan`
(pure PyTorch, any device); ``"cuda"`` = mamba-ssm's fused kernel (optional extra
``aa-mamba[cuda]``), imported lazily and used only for CUDA tensors when the import works;
``"auto"`` = cuda where possible, else cpu.

Parameters: ``2Ed² + Ed(d_conv+1) + Ed(R+2N) + (R+1)Ed + EdN + Ed + Ed²`` ≈ 3·E·d²
(E = expand, N = d_state, R = ⌈d/16⌉).
"""
from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F
from torch import nn

from .scan import selective_scan


def dt_rank_for(d_model: int) -> int:
    return math.ceil(d_model / 16)


def mamba_param_count(d_model: int, d_state: int = 16, d_conv: int = 4, expand: int = 2) -> int:
    """Exact parameter count of one :class:`MambaBlock` (bias-free in/out projections)."""
    d, E, N, R = d_model, expand, d_state, dt_rank_for(d_model)
    Ed = E * d
    return 2 * Ed * d + Ed * (d_conv + 1) + Ed * (R + 2 * N) + (R + 1) * Ed + Ed * N + Ed + Ed * d


@functools.lru_cache(maxsize=1)
def cuda_selective_scan():
    """mamba-ssm's ``selective_scan_fn`` when CUDA is available and it imports, else None."""
    if not torch.cuda.is_available():
        return None
    try:
        from mamba_ssm.ops.selective_scan_interface import selective_scan_fn
    except Exception:  # noqa: BLE001 - any import failure (no wheel, ABI, missing .so) means "not available"
        return None
    return selective_scan_fn


class MambaBlock(nn.Module):
    """One Mamba mixer: ``[B, L, d]`` → ``[B, L, d]`` (no norm, no residual: the caller adds them)."""

    def __init__(self, d_model: int, d_state: int = 16, d_conv: int = 4, expand: int = 2,
                 dt_min: float = 1e-3, dt_max: float = 0.1, backend: str = "auto"):
        super().__init__()
        self.d_model, self.d_state, self.d_conv, self.expand = d_model, d_state, d_conv, expand
        self.d_inner = expand * d_model
        self.dt_rank = dt_rank_for(d_model)
        self.backend = backend
        E = self.d_inner
        self.in_proj = nn.Linear(d_model, 2 * E, bias=False)
        self.conv1d = nn.Conv1d(E, E, d_conv, groups=E, padding=d_conv - 1, bias=True)
        self.x_proj = nn.Linear(E, self.dt_rank + 2 * d_state, bias=False)
        self.dt_proj = nn.Linear(self.dt_rank, E, bias=True)
        self.A_log = nn.Parameter(torch.log(torch.arange(1, d_state + 1, dtype=torch.float32)).repeat(E, 1))  # A_n = -n
        self.D = nn.Parameter(torch.ones(E))
        self.out_proj = nn.Linear(E, d_model, bias=False)
        with torch.no_grad():  # Δ initialised log-uniform in [dt_min, dt_max] through the bias (inverse softplus)
            std = self.dt_rank ** -0.5
            self.dt_proj.weight.uniform_(-std, std)
            dt = torch.exp(torch.rand(E) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min)).clamp(min=1e-4)
            self.dt_proj.bias.copy_(dt + torch.log(-torch.expm1(-dt)))

    def _use_cuda(self, x: torch.Tensor) -> bool:
        if self.backend == "cpu":
            return False
        available = x.is_cuda and cuda_selective_scan() is not None
        if self.backend == "cuda" and not available:
            raise RuntimeError("backend 'cuda' needs CUDA tensors and mamba-ssm (pip install 'aa-mamba[cuda]'); use backend 'auto' or 'cpu'")
        return available

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        L = hidden.shape[1]
        x, z = self.in_proj(hidden).chunk(2, dim=-1)  # [B, L, E] each
        x = F.silu(self.conv1d(x.transpose(1, 2))[..., :L])  # causal conv: [B, E, L]
        dt_r, Bm, Cm = torch.split(self.x_proj(x.transpose(1, 2)), [self.dt_rank, self.d_state, self.d_state], dim=-1)
        A = -torch.exp(self.A_log if self.A_log.dtype == torch.float64 else self.A_log.float())  # [E, N]
        if self._use_cuda(hidden):
            dt = (dt_r @ self.dt_proj.weight.t()).transpose(1, 2)  # [B, E, L], bias added in the kernel
            y = cuda_selective_scan()(
                x.contiguous(), dt.contiguous(), A, Bm.transpose(1, 2).contiguous(), Cm.transpose(1, 2).contiguous(),
                self.D.float(), z=z.transpose(1, 2).contiguous(), delta_bias=self.dt_proj.bias.float(), delta_softplus=True,
            ).transpose(1, 2)
        else:
            dt = F.softplus(self.dt_proj(dt_r))  # [B, L, E]
            y = selective_scan(x.transpose(1, 2), dt, A, Bm, Cm, self.D) * F.silu(z)
        return self.out_proj(y)
