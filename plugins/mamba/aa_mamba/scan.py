"""Selective scan on CPU (pure PyTorch) without an O(L²) backward.

The Mamba recurrence per channel e and state n is a first-order linear recurrence
``h_t = a_t ⊙ h_{t-1} + u_t`` with ``a_t = exp(Δ_t A)`` and ``u_t = Δ_t B_t x_t``.
:class:`LinearScan` evaluates it with a two-level chunked scan:

1. split L into ``nc`` chunks of ``T ≈ √L`` steps; run the recurrence inside every chunk at
   once (a loop over T positions, each step vectorised over all chunks), from a zero state;
2. the state entering chunk c obeys the same recurrence over chunks, with decay
   ``∏ a`` over the chunk (a cumulative product, always ≤ 1, so no exp overflow as with
   cumulative log-decay tricks) and input the chunk's zero-start end state — solved by
   the same function recursively (length nc);
3. add ``cumprod(a) · H_in`` to every local state.

So the Python loop has ≈ 2√L steps instead of L, all work is O(L·E·N), and nothing is
indexed one step at a time under autograd: the backward is the same scan run in reverse
(``g_t = ∂ℓ/∂h_t + a_{t+1} g_{t+1}``, then ``∂ℓ/∂u = g``, ``∂ℓ/∂a_t = g_t h_{t-1}``),
written by hand in :meth:`LinearScan.backward` so autograd stores only ``a`` and ``h``.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

SEQUENTIAL_BELOW = 32  # below this length a plain in-place loop is cheapest


def linear_scan_nograd(a: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """``h_t = a_t h_{t-1} + u_t`` (h_{-1} = 0) along dim 1 of ``[B, L, ...]``; no autograd."""
    B, L = a.shape[:2]
    rest = a.shape[2:]
    if L <= SEQUENTIAL_BELOW:
        h = u.clone()
        for t in range(1, L):
            h[:, t].addcmul_(a[:, t], h[:, t - 1])
        return h
    T = max(2, int(math.isqrt(L)))
    nc = -(-L // T)
    pad = nc * T - L
    if pad:  # padding at the end never affects earlier steps
        a = torch.cat([a, a.new_ones((B, pad) + rest)], 1)
        u = torch.cat([u, u.new_zeros((B, pad) + rest)], 1)
    a = a.reshape((B, nc, T) + rest)
    h = u.reshape((B, nc, T) + rest).clone()  # [B, nc, T, ...] local states from zero
    for t in range(1, T):
        h[:, :, t].addcmul_(a[:, :, t], h[:, :, t - 1])
    decay = a.cumprod(2)  # [B, nc, T, ...] ∏_{s≤t} a_s inside the chunk
    ends = linear_scan_nograd(decay[:, :, -1], h[:, :, -1])  # [B, nc, ...] true end state of each chunk
    carry_in = torch.cat([ends.new_zeros((B, 1) + rest), ends[:, :-1]], 1)  # state entering chunk c
    h.addcmul_(decay, carry_in.unsqueeze(2))
    return h.reshape((B, nc * T) + rest)[:, :L]


class LinearScan(torch.autograd.Function):
    """Differentiable ``h_t = a_t ⊙ h_{t-1} + u_t`` over dim 1; ``[B, L, ...]`` → ``[B, L, ...]``."""

    @staticmethod
    def forward(ctx, a: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        h = linear_scan_nograd(a, u)
        ctx.save_for_backward(a, h)
        return h

    @staticmethod
    def backward(ctx, grad_h: torch.Tensor):
        a, h = ctx.saved_tensors
        a_next = F.pad(a[:, 1:], _pad_time(a.dim()))  # a_{t+1}, zero after the end
        g = linear_scan_nograd(a_next.flip(1), grad_h.flip(1)).flip(1)  # ∂ℓ/∂h_t, all paths
        h_prev = F.pad(h[:, :-1], _pad_time(h.dim(), front=True))
        return g * h_prev, g


def _pad_time(ndim: int, front: bool = False) -> tuple[int, ...]:
    """F.pad spec that adds one step of zeros to dim 1 (at the end, or the front)."""
    spec = [0, 0] * (ndim - 2) + ([1, 0] if front else [0, 1])
    return tuple(spec)


def selective_scan(x, dt, A, Bm, Cm, D):
    """Mamba's selective scan, channels-last.

    x, dt: ``[B, L, E]`` (dt already softplus'ed); A: ``[E, N]`` (negative); Bm, Cm: ``[B, L, N]``;
    D: ``[E]``. Returns y ``[B, L, E]`` = C·h + D·x, computed in float32 (or float64).
    """
    dtype = x.dtype
    work = torch.float64 if dtype == torch.float64 else torch.float32
    x, dt, A, Bm, Cm, D = (t.to(work) for t in (x, dt, A, Bm, Cm, D))
    dA = torch.exp(dt.unsqueeze(-1) * A)  # [B, L, E, N]
    dBx = (dt * x).unsqueeze(-1) * Bm.unsqueeze(2)  # [B, L, E, N]
    h = LinearScan.apply(dA, dBx)  # [B, L, E, N]
    y = torch.einsum("blen,bln->ble", h, Cm) + x * D
    return y.to(dtype)
