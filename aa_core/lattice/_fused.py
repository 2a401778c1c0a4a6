"""The depthwise NCA cell's fused lattice forward: the custom op ``aa::depthwise_cell`` on a C++ kernel.

:func:`depthwise_forward` computes ``fc2(relu(fc1(perceive(grid))))`` over a channels-last lattice in one
pass (perception straight from the grid into registers, then both small GEMMs): ~6.8K MAC per cell at
C=16, M=4, H=64 instead of the folded dense conv's ~29K (see ``_fused_depthwise.cpp``, built and cached
by :mod:`aa_core.native`; ``AA_NO_NATIVE=1`` keeps the PyTorch path).

``torch.ops.aa.depthwise_cell`` is a ``torch.library.custom_op``: a fake implementation (shapes, for
``torch.compile`` and the meta device), an autograd formula in PyTorch ops (the kernel is the forward
only: the backward recomputes the perception and the hidden layer from the saved inputs, so
``torch.func.grad`` and double backward work too) and a vmap rule (the vmapped dimension folded into the
batch). The cell calls it for no-grad fp32 CPU forwards (:func:`usable`), where it is fastest.
"""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from .. import native

NAME = "aa_depthwise_cell"
SOURCES = [Path(__file__).with_name("_fused_depthwise.cpp")]
SIGNATURES = {
    "aa_dw_supports": "i32(i32, i32, i32)",
    "aa_dw_forward": "i32(ptr, ptr, i64, i32, i32, i32, i32, i32, i32, i32, i32, i32, ptr, ptr, ptr, ptr, ptr, i32)",
}
ready = native.kernel_ready(NAME, SOURCES, SIGNATURES)


def load():
    """The compiled kernel library (ctypes), or None when it cannot be built here (warns once per process)."""
    return native.load_library(NAME, SOURCES, SIGNATURES)


def error() -> str | None:
    """Why :func:`load` returned None (after it was called), else None."""
    return native.error(NAME)


def disable(exc: BaseException) -> None:
    """Turn the kernel off for this process after a runtime failure (warns once)."""
    native.disable(NAME, exc)


@torch.compiler.assume_constant_result
def supports(channels: int, multiplier: int, hidden: int) -> bool:
    """Whether the kernel has a compiled instance for (C, M, H) (False when it is not built)."""
    lib = load()
    return lib is not None and bool(lib.aa_dw_supports(channels, multiplier, hidden))


def usable(grid: torch.Tensor, channels: int, multiplier: int, hidden: int) -> bool:
    """Whether the fused kernel applies to this call: no grad, fp32 ``[B,X,Y,Z,C]`` on the CPU (or the
    meta device: the fake implementation), a compiled shape."""
    if torch.is_grad_enabled() or grid.dtype != torch.float32 or grid.device.type not in ("cpu", "meta") or grid.dim() != 5:
        return False
    return ready() and supports(channels, multiplier, hidden)


# ---- the op ---------------------------------------------------------------------------------------
@torch.library.custom_op("aa::depthwise_cell", mutates_args=(), device_types="cpu")
def _depthwise_cell(grid: torch.Tensor, wp: torch.Tensor, w1: torch.Tensor, b1: torch.Tensor, w2: torch.Tensor,
                   b2: torch.Tensor, periodic: list[bool]) -> torch.Tensor:
    """``[B, X, Y, Z, C]`` → ``[B, X, Y, Z, C]`` with packed fp32 weights: perception ``wp [27, M, C]``,
    ``w1 [M·C, H]`` (row ``j·C + c``), ``b1 [H]``, ``w2 [H, C]``, ``b2 [C]``."""
    lib = load()
    if lib is None:
        raise RuntimeError(f"aa::depthwise_cell: kernel unavailable ({error()})")
    grid = grid.contiguous()
    B, X, Y, Z, C = grid.shape
    M, H = wp.shape[1], w1.shape[1]
    ws = [t.contiguous() for t in (wp, w1, b1, w2, b2)]
    if grid.dtype != torch.float32 or any(t.dtype != torch.float32 for t in ws):
        raise ValueError("aa::depthwise_cell: the grid and the weights must be fp32")
    out = torch.empty_like(grid)
    px, py, pz = (int(bool(p)) for p in periodic)
    rc = lib.aa_dw_forward(grid.data_ptr(), out.data_ptr(), B, X, Y, Z, C, M, H, px, py, pz,
                           *(t.data_ptr() for t in ws), torch.get_num_threads())
    if rc != 0:
        raise ValueError(f"aa::depthwise_cell: no kernel for C={C} M={M} H={H}")
    return out


def _check_shapes(grid: torch.Tensor, wp: torch.Tensor, w1: torch.Tensor, b1: torch.Tensor, w2: torch.Tensor, b2: torch.Tensor) -> None:
    C = grid.shape[-1]
    M, H = wp.shape[1], w1.shape[1]
    torch._check(grid.dim() == 5, lambda: "aa::depthwise_cell: the grid is [B, X, Y, Z, C]")
    torch._check(tuple(wp.shape) == (27, M, C) and tuple(w1.shape) == (M * C, H) and tuple(b1.shape) == (H,)
                 and tuple(w2.shape) == (H, C) and tuple(b2.shape) == (C,),
                 lambda: "aa::depthwise_cell: weight shapes do not match the grid")


@_depthwise_cell.register_fake
def _(grid, wp, w1, b1, w2, b2, periodic):
    _check_shapes(grid, wp, w1, b1, w2, b2)
    return grid.new_empty(grid.shape)


# ---- the autograd formula, in PyTorch ops ---------------------------------------------------------
def _pad_index(n: int, periodic: bool, device: torch.device) -> torch.Tensor:
    """Rows of ``cat([x, 0])`` (size n + 1, row n the zero) that make the padded axis: wrap-around or zero."""
    edge = (n - 1, 0) if periodic else (n, n)
    return torch.tensor([edge[0], *range(n), edge[1]], dtype=torch.long, device=device)


def padded(grid: torch.Tensor, periodic: list[bool]) -> torch.Tensor:
    """``[B, X, Y, Z, C]`` → ``[B, X+2, Y+2, Z+2, C]`` by the boundary rule (one cell per side)."""
    x = grid
    for d, p in zip((1, 2, 3), periodic):
        zero = x.new_zeros(*x.shape[:d], 1, *x.shape[d + 1:])
        x = torch.cat([x, zero], d).index_select(d, _pad_index(x.shape[d], bool(p), x.device))
    return x


def unpadded_grad(g: torch.Tensor, periodic: list[bool]) -> torch.Tensor:
    """The adjoint of :func:`padded`: a padded-grid gradient summed back onto the cells it was read from."""
    for d, p in zip((3, 2, 1), reversed(periodic)):
        n = g.shape[d] - 2
        acc = g.new_zeros(*g.shape[:d], n + 1, *g.shape[d + 1:])
        g = acc.index_add(d, _pad_index(n, bool(p), g.device), g).narrow(d, 0, n)
    return g


def _shift(xp: torch.Tensor, k: int, size: tuple[int, int, int]) -> torch.Tensor:
    """Neighbour ``k`` (= 9·dx + 3·dy + dz of the 3×3×3 block) of every cell, from the padded grid."""
    X, Y, Z = size
    dx, dy, dz = k // 9, (k // 3) % 3, k % 3
    return xp[:, dx : dx + X, dy : dy + Y, dz : dz + Z]


def perception(grid: torch.Tensor, wp: torch.Tensor, periodic: list[bool]) -> torch.Tensor:
    """The kernel's perception in PyTorch ops: ``[B, X, Y, Z, M, C]``, ``p[..., j, c] = Σ_k wp[k, j, c]·x[nb_k, c]``."""
    xp = padded(grid, periodic)
    size = tuple(grid.shape[1:4])
    p = grid.new_zeros(*grid.shape[:4], wp.shape[1], grid.shape[4])
    for k in range(27):
        p = p + _shift(xp, k, size).unsqueeze(-2) * wp[k]  # type: ignore[arg-type]
    return p


def _setup_context(ctx, inputs, output) -> None:
    grid, wp, w1, b1, w2, _b2, periodic = inputs
    ctx.save_for_backward(grid, wp, w1, b1, w2)
    ctx.periodic = list(periodic)


def _backward(ctx, grad: torch.Tensor):
    grid, wp, w1, b1, w2 = ctx.saved_tensors
    need = ctx.needs_input_grad
    B, X, Y, Z, C = grid.shape
    M = wp.shape[1]
    p6 = perception(grid, wp, ctx.periodic)  # [B, X, Y, Z, M, C]
    p = p6.reshape(-1, M * C)
    a = torch.addmm(b1, p, w1)  # [cells, H]
    h = F.relu(a)
    g = grad.reshape(-1, C)
    g_b2 = g.sum(0) if need[5] else None
    g_w2 = h.t() @ g if need[4] else None
    g_a = (g @ w2.t()) * (a > 0).to(g.dtype)
    g_b1 = g_a.sum(0) if need[3] else None
    g_w1 = p.t() @ g_a if need[2] else None
    g_grid = g_wp = None
    if need[0] or need[1]:
        g_p = (g_a @ w1.t()).view(B, X, Y, Z, M, C)
        xp = padded(grid, ctx.periodic)
        size = (X, Y, Z)
        if need[1]:
            g_wp = torch.stack([(_shift(xp, k, size).unsqueeze(-2) * g_p).sum((0, 1, 2, 3)) for k in range(27)])
        if need[0]:
            pads = [F.pad((g_p * wp[k]).sum(-2), (0, 0, k % 3, 2 - k % 3, (k // 3) % 3, 2 - (k // 3) % 3, k // 9, 2 - k // 9))
                    for k in range(27)]
            g_grid = unpadded_grad(torch.stack(pads).sum(0), ctx.periodic)
    return g_grid, g_wp, g_w1, g_b1, g_w2, g_b2, None


# the callable: the op under torch.compile, an autograd.Function torch.func accepts in eager mode
depthwise_cell = native.autograd_op(_depthwise_cell, _backward, _setup_context)
native.register_batch_vmap(_depthwise_cell, batch_args=(0,))


def depthwise_forward(grid: torch.Tensor, wp: torch.Tensor, w1: torch.Tensor, b1: torch.Tensor,
                      w2: torch.Tensor, b2: torch.Tensor, periodic_axes) -> torch.Tensor:
    """``[B, X, Y, Z, C]`` → ``[B, X, Y, Z, C]`` with packed fp32 contiguous weights:
    perception ``wp [27, M, C]``, ``w1 [M·C, H]`` (row ``j·C + c``), ``b1 [H]``, ``w2 [H, C]``, ``b2 [C]``."""
    _check_shapes(grid, wp, w1, b1, w2, b2)
    return depthwise_cell(grid, wp, w1, b1, w2, b2, [bool(p) for p in periodic_axes])
