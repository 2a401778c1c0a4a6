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


SEGMENT_ELEMENTS = 1 << 20  # ≈4 MB of float32 per [B, S, E, N] segment tensor: stays in cache


def segment_length(B: int, L: int, E: int, N: int) -> int:
    return max(64, min(L, SEGMENT_ELEMENTS // max(1, B * E * N)))


class SelectiveScanFn(torch.autograd.Function):
    """Fused selective scan: ``y = C·h + D·x`` without keeping ``[B, L, E, N]`` tensors.

    The sequence is processed in segments of S steps (a few MB each, so the work stays in
    cache); the forward keeps only the inputs and the state at each segment boundary, the
    backward recomputes a segment's states from its boundary state and runs the reverse
    scan, segment by segment from the end. Memory O(L·(E+N) + L/S·E·N), work O(L·E·N).
    """

    @staticmethod
    def forward(ctx, x, dt, A, Bm, Cm, D):
        Bsz, L, E = x.shape
        S = segment_length(Bsz, L, E, A.shape[1])
        state = x.new_zeros(Bsz, E, A.shape[1])
        starts, ys = [], []
        for s0 in range(0, L, S):
            sl = slice(s0, s0 + S)
            starts.append(state)
            dA = torch.exp(dt[:, sl, :, None] * A)  # [B, S, E, N]
            u = (dt[:, sl] * x[:, sl]).unsqueeze(-1) * Bm[:, sl, None, :]
            u[:, 0].addcmul_(dA[:, 0], state)  # enter with the carried state
            h = linear_scan_nograd(dA, u)
            ys.append(torch.einsum("bsen,bsn->bse", h, Cm[:, sl]))
            state = h[:, -1]
        ctx.save_for_backward(x, dt, A, Bm, Cm, D, torch.stack(starts))
        ctx.segment = S
        return torch.cat(ys, 1) + x * D

    @staticmethod
    def backward(ctx, gy):
        x, dt, A, Bm, Cm, D, starts = ctx.saved_tensors
        S, L = ctx.segment, x.shape[1]
        gx, gdt, gB, gC = torch.empty_like(x), torch.empty_like(dt), torch.empty_like(Bm), torch.empty_like(Cm)
        gA = torch.zeros_like(A)
        carry = None  # a_{first of next segment} ⊙ g_{first of next segment}: [B, E, N]
        for k, s0 in reversed(list(enumerate(range(0, L, S)))):
            sl = slice(s0, s0 + S)
            xs, dts, Bs, Cs, gys = x[:, sl], dt[:, sl], Bm[:, sl], Cm[:, sl], gy[:, sl]
            dA = torch.exp(dts.unsqueeze(-1) * A)  # recompute the segment
            u = (dts * xs).unsqueeze(-1) * Bs.unsqueeze(2)
            u[:, 0].addcmul_(dA[:, 0], starts[k])
            h = linear_scan_nograd(dA, u)
            gC[:, sl] = torch.einsum("bse,bsen->bsn", gys, h)
            gh = gys.unsqueeze(-1) * Cs.unsqueeze(2)  # ∂ℓ/∂h_t directly: [B, S, E, N]
            if carry is not None:
                gh[:, -1] += carry
            a_next = F.pad(dA[:, 1:], _pad_time(dA.dim()))
            g = linear_scan_nograd(a_next.flip(1), gh.flip(1)).flip(1)  # ∂ℓ/∂h_t, all paths
            carry = dA[:, 0] * g[:, 0]
            h_prev = torch.cat([starts[k].unsqueeze(1), h[:, :-1]], 1)
            g_logA = g * h_prev * dA  # ∂ℓ/∂(dt·A) = ∂ℓ/∂dA · dA
            gA += torch.einsum("bsen,bse->en", g_logA, dts)
            gBx = torch.einsum("bsen,bsn->bse", g, Bs)  # Σ_n ∂ℓ/∂u · B
            gdt[:, sl] = torch.einsum("bsen,en->bse", g_logA, A) + gBx * xs
            gx[:, sl] = gBx * dts + gys * D
            gB[:, sl] = torch.einsum("bsen,bse->bsn", g, dts * xs)
        gD = (gy * x).sum((0, 1))
        return gx, gdt, gA, gB, gC, gD


def selective_scan(x, dt, A, Bm, Cm, D):
    """Mamba's selective scan, channels-last.

    x, dt: ``[B, L, E]`` (dt already softplus'ed); A: ``[E, N]`` (negative); Bm, Cm: ``[B, L, N]``;
    D: ``[E]``. Returns y ``[B, L, E]`` = C·h + D·x, computed in float32 (or float64).
    """
    dtype = x.dtype
    work = torch.float64 if dtype == torch.float64 else torch.float32
    x, dt, A, Bm, Cm, D = (t.to(work).contiguous() for t in (x, dt, A, Bm, Cm, D))
    # many short sequences (hierarchical chunks): scan them in batch groups so that a
    # segment tensor [b, S, E, N] still fits the cache budget
    group = max(1, SEGMENT_ELEMENTS // (64 * A.numel()))
    if x.shape[0] <= group:
        return SelectiveScanFn.apply(x, dt, A, Bm, Cm, D).to(dtype)
    parts = [SelectiveScanFn.apply(*(t[i : i + group] for t in (x, dt)), A, Bm[i : i + group], Cm[i : i + group], D)
             for i in range(0, x.shape[0], group)]
    return torch.cat(parts, 0).to(dtype)


def selective_scan_unfused(x, dt, A, Bm, Cm, D):
    """The same scan through autograd over :class:`LinearScan` (materialises [B, L, E, N]); a test oracle."""
    dA = torch.exp(dt.unsqueeze(-1) * A)  # [B, L, E, N]
    dBx = (dt * x).unsqueeze(-1) * Bm.unsqueeze(2)  # [B, L, E, N]
    h = LinearScan.apply(dA, dBx)
    return torch.einsum("blen,bln->ble", h, Cm) + x * D
