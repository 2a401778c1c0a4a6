"""The ``growing_nca`` cell's depthwise 3×3×3 perception as torch custom ops on a C++ kernel.

``out[b, x, y, z, c·m + j] = Σ_k w[c·m + j, k] · in[b, (x, y, z) + d_k, c]`` on a channels-last
lattice, with a zero or periodic boundary per axis. oneDNN's grouped convolution is slow on these
shapes (a few channels per group, tiny lattices), while the arithmetic is small (27·m·C MACs per
cell), so plain OpenMP loops (``depthwise_perception.cpp`` beside this file: forward, input gradient,
weight gradient, and the same three at chosen cells only) do it in a fraction of the time.

The C++ file is built and cached by the core's native-kernel service (``aa_core.plugin.native_library``:
``$AA_NATIVE_CACHE``, default ``~/.cache/aa/native``); without a compiler (or with ``AA_NO_NATIVE=1``)
:func:`available` is False and the cell keeps its PyTorch path (one warning per process).

Every kernel is a ``torch.library.custom_op`` in the ``aa_nca`` namespace, with a fake implementation
(``torch.compile`` traces it as one node, the meta-device memory estimate runs it) and an autograd formula
made of the others, so gradients of any order and ``torch.func.grad`` work:

============================  ===========================================  ====================================
op                            computes                                      backward (grad of its output: g)
============================  ===========================================  ====================================
``perceive(x, wT)``           ``[B,X,Y,Z,C]`` → ``[B,X,Y,Z,C·m]``           x: ``perceive_input_grad(g, wT)``,
                                                                            wT: ``perceive_weight_grad(x, g)``
``perceive_input_grad(g, w)`` its transpose in x                            g: ``perceive(v, w)``, w: ``perceive_weight_grad(v, g)``
``perceive_weight_grad(x,g)`` its transpose in wT (``[27, C·m]``)           g: ``perceive(x, u)``, x: ``perceive_input_grad(g, u)``
``perceive_at(x, wT, idx)``   the rows of the cells ``idx`` ``[R, C·m]``     the same three, ``*_at``
============================  ===========================================  ====================================

``wT [27, C·m]`` is the kernel ``[C·m, 1, 3, 3, 3]`` transposed (:func:`depthwise_perception` does that
in PyTorch, so the kernel's own gradient flows through the reshape).
"""
from __future__ import annotations

from pathlib import Path

import torch

from aa_core.plugin import native_autograd_op, native_batch_vmap, native_kernel_ready, native_library

NAME = "aa_nca_depthwise"
SOURCES = [Path(__file__).with_name("depthwise_perception.cpp")]
_DENSE = "void(ptr, ptr, ptr, i64, i32, i32, i32, i32, i32, i32, i32, i32, i32)"
_AT = "void(ptr, ptr, ptr, ptr, i64, i64, i32, i32, i32, i32, i32, i32, i32, i32, i32)"
SIGNATURES = {
    "aa_ca_dw_forward": _DENSE, "aa_ca_dw_backward_input": _DENSE, "aa_ca_dw_backward_weight": _DENSE,
    "aa_ca_dw_forward_at": _AT, "aa_ca_dw_backward_weight_at": _AT,
    "aa_ca_dw_backward_input_at": "void(ptr, ptr, ptr, ptr, ptr, i64, i32, i32, i32, i32, i32, i32, i32, i32, i32)",
}
ready = native_kernel_ready(NAME, SOURCES, SIGNATURES)


def library():
    """The compiled kernel library (ctypes), or None when it cannot be built here."""
    return native_library(NAME, SOURCES, SIGNATURES)


def available(x: torch.Tensor) -> bool:
    """Whether the kernel serves ``x``: fp32 ``[B, X, Y, Z, C]`` on the CPU (or the meta device, where the
    fake implementations run) and the library built here."""
    return x.device.type in ("cpu", "meta") and x.dtype == torch.float32 and x.dim() == 5 and ready()


def _call(name: str, tensors: tuple[torch.Tensor, ...], extras: tuple[int, ...], shape, m: int, periodic) -> None:
    """Kernel ``name`` on the ``tensors``' addresses, then ``extras`` (the ``*_at`` kernels' row count R or
    ``starts`` address), the lattice shape ``[B, X, Y, Z, C]``, m, the periodic flags and the thread count."""
    lib = library()
    if lib is None:
        raise RuntimeError(f"aa_nca: depthwise perception kernel unavailable ({name})")
    B, X, Y, Z, C = shape
    px, py, pz = (int(bool(p)) for p in periodic)
    getattr(lib, name)(*(t.data_ptr() for t in tensors), *extras, B, X, Y, Z, C, m, px, py, pz, torch.get_num_threads())


def _f32(*ts: torch.Tensor) -> None:
    if any(t.dtype != torch.float32 for t in ts):
        raise ValueError("aa_nca: the depthwise perception kernels take fp32 tensors")


# ---- the whole lattice ------------------------------------------------------------------------------
@torch.library.custom_op("aa_nca::perceive", mutates_args=(), device_types="cpu")
def _perceive(grid: torch.Tensor, wT: torch.Tensor, periodic: list[bool]) -> torch.Tensor:
    """``grid [B, X, Y, Z, C]``, ``wT [27, C·m]`` → ``[B, X, Y, Z, C·m]``."""
    _f32(grid, wT)
    Cm = wT.shape[1]
    m = Cm // grid.shape[-1]
    out = grid.new_empty(*grid.shape[:4], Cm)
    _call("aa_ca_dw_forward", (grid.contiguous(), wT.contiguous(), out), (), grid.shape, m, periodic)
    return out


@torch.library.custom_op("aa_nca::perceive_input_grad", mutates_args=(), device_types="cpu")
def _perceive_input_grad(grad: torch.Tensor, wT: torch.Tensor, channels: int, periodic: list[bool]) -> torch.Tensor:
    """``grad [B, X, Y, Z, C·m]`` → ``[B, X, Y, Z, C]`` (C = ``channels``): the transpose of ``perceive`` in the grid."""
    _f32(grad, wT)
    out = grad.new_empty(*grad.shape[:4], channels)
    m = wT.shape[1] // channels
    _call("aa_ca_dw_backward_input", (grad.contiguous(), wT.contiguous(), out), (), out.shape, m, periodic)
    return out


@torch.library.custom_op("aa_nca::perceive_weight_grad", mutates_args=(), device_types="cpu")
def _perceive_weight_grad(grid: torch.Tensor, grad: torch.Tensor, periodic: list[bool]) -> torch.Tensor:
    """``grid [B, X, Y, Z, C]``, ``grad [B, X, Y, Z, C·m]`` → ``[27, C·m]``: the transpose of ``perceive`` in ``wT``."""
    _f32(grid, grad)
    Cm = grad.shape[-1]
    m = Cm // grid.shape[-1]
    out = grid.new_empty(27, Cm)
    _call("aa_ca_dw_backward_weight", (grid.contiguous(), grad.contiguous(), out), (), grid.shape, m, periodic)
    return out


@_perceive.register_fake
def _(grid, wT, periodic):
    torch._check(grid.dim() == 5 and wT.dim() == 2 and wT.shape[0] == 27 and wT.shape[1] % grid.shape[-1] == 0,
                 lambda: "aa_nca::perceive: grid [B, X, Y, Z, C] and wT [27, C·m]")
    return grid.new_empty(*grid.shape[:4], wT.shape[1])


@_perceive_input_grad.register_fake
def _(grad, wT, channels, periodic):
    return grad.new_empty(*grad.shape[:4], channels)


@_perceive_weight_grad.register_fake
def _(grid, grad, periodic):
    return grid.new_empty(27, grad.shape[-1])


def _save_two(ctx, inputs, output) -> None:
    """setup_context of the ops ``f(a, b, …)`` whose backward needs their two tensor inputs."""
    ctx.save_for_backward(inputs[0], inputs[1])
    ctx.args = inputs[2:]


def _perceive_backward(ctx, g):
    x, wT = ctx.saved_tensors
    (periodic,) = ctx.args
    g_x = perceive_input_grad(g, wT, x.shape[-1], periodic) if ctx.needs_input_grad[0] else None
    g_w = perceive_weight_grad(x, g, periodic) if ctx.needs_input_grad[1] else None
    return g_x, g_w, None


def _input_grad_backward(ctx, v):  # <input_grad(g, w), v> = <g, perceive(v, w)>
    g, wT = ctx.saved_tensors
    _channels, periodic = ctx.args
    g_g = perceive(v, wT, periodic) if ctx.needs_input_grad[0] else None
    g_w = perceive_weight_grad(v, g, periodic) if ctx.needs_input_grad[1] else None
    return g_g, g_w, None, None


def _weight_grad_backward(ctx, u):  # <weight_grad(x, g), u> = <g, perceive(x, u)>
    x, g = ctx.saved_tensors
    (periodic,) = ctx.args
    g_x = perceive_input_grad(g, u, x.shape[-1], periodic) if ctx.needs_input_grad[0] else None
    g_g = perceive(x, u, periodic) if ctx.needs_input_grad[1] else None
    return g_x, g_g, None


# the callables (the op under torch.compile, an autograd.Function torch.func accepts in eager mode)
perceive = native_autograd_op(_perceive, _perceive_backward, _save_two)
perceive_input_grad = native_autograd_op(_perceive_input_grad, _input_grad_backward, _save_two)
perceive_weight_grad = native_autograd_op(_perceive_weight_grad, _weight_grad_backward, _save_two)
native_batch_vmap(_perceive, batch_args=(0,))
native_batch_vmap(_perceive_input_grad, batch_args=(0,))
native_batch_vmap(_perceive_weight_grad, batch_args=())  # sums over the batch: one call per vmapped slice


# ---- at chosen cells only (the masked update) ------------------------------------------------------
@torch.library.custom_op("aa_nca::perceive_at", mutates_args=(), device_types="cpu")
def _perceive_at(grid: torch.Tensor, wT: torch.Tensor, idx: torch.Tensor, periodic: list[bool]) -> torch.Tensor:
    """The perception rows of the cells ``idx`` (sorted flat ids into ``[B·X·Y·Z]``, int64): ``[R, C·m]``."""
    _f32(grid, wT)
    Cm = wT.shape[1]
    m = Cm // grid.shape[-1]
    idx = idx.contiguous()
    out = grid.new_empty(len(idx), Cm)
    _call("aa_ca_dw_forward_at", (grid.contiguous(), wT.contiguous(), out, idx), (len(idx),), grid.shape, m, periodic)
    return out


@torch.library.custom_op("aa_nca::perceive_at_input_grad", mutates_args=(), device_types="cpu")
def _perceive_at_input_grad(grad: torch.Tensor, wT: torch.Tensor, idx: torch.Tensor, shape: list[int],
                            periodic: list[bool]) -> torch.Tensor:
    """``grad [R, C·m]`` (rows of the cells ``idx``) → ``[B, X, Y, Z, C]`` = ``shape``: the transpose of ``perceive_at``."""
    _f32(grad, wT)
    B, X, Y, Z, C = shape
    m = wT.shape[1] // C
    out = grad.new_empty(shape)
    idx = idx.contiguous()
    counts = torch.bincount(idx // (X * Y * Z), minlength=B)
    starts = torch.cat([counts.new_zeros(1), counts.cumsum(0)])
    grad_m = grad.reshape(-1, C, m).transpose(1, 2).contiguous()  # m-major copies: feature c·m + j → j·C + c
    wT_m = wT.reshape(27, C, m).transpose(1, 2).contiguous()
    _call("aa_ca_dw_backward_input_at", (grad_m, wT_m, out, idx), (starts.data_ptr(),), shape, m, periodic)
    return out


@torch.library.custom_op("aa_nca::perceive_at_weight_grad", mutates_args=(), device_types="cpu")
def _perceive_at_weight_grad(grid: torch.Tensor, grad: torch.Tensor, idx: torch.Tensor, periodic: list[bool]) -> torch.Tensor:
    """``grid [B, X, Y, Z, C]``, ``grad [R, C·m]`` → ``[27, C·m]``: the transpose of ``perceive_at`` in ``wT``."""
    _f32(grid, grad)
    Cm = grad.shape[-1]
    m = Cm // grid.shape[-1]
    out = grid.new_empty(27, Cm)
    _call("aa_ca_dw_backward_weight_at", (grid.contiguous(), grad.contiguous(), out, idx.contiguous()), (len(idx),),
          grid.shape, m, periodic)
    return out


@_perceive_at.register_fake
def _(grid, wT, idx, periodic):
    torch._check(grid.dim() == 5 and wT.dim() == 2 and wT.shape[0] == 27 and idx.dim() == 1,
                 lambda: "aa_nca::perceive_at: grid [B, X, Y, Z, C], wT [27, C·m], idx [R]")
    return grid.new_empty(idx.shape[0], wT.shape[1])


@_perceive_at_input_grad.register_fake
def _(grad, wT, idx, shape, periodic):
    return grad.new_empty(shape)


@_perceive_at_weight_grad.register_fake
def _(grid, grad, idx, periodic):
    return grid.new_empty(27, grad.shape[-1])


def _save_three(ctx, inputs, output) -> None:
    ctx.save_for_backward(inputs[0], inputs[1], inputs[2])
    ctx.args = inputs[3:]


def _perceive_at_backward(ctx, g):
    x, wT, idx = ctx.saved_tensors
    (periodic,) = ctx.args
    g_x = perceive_at_input_grad(g, wT, idx, list(x.shape), periodic) if ctx.needs_input_grad[0] else None
    g_w = perceive_at_weight_grad(x, g, idx, periodic) if ctx.needs_input_grad[1] else None
    return g_x, g_w, None, None


def _at_input_grad_backward(ctx, v):
    g, wT, idx = ctx.saved_tensors
    _shape, periodic = ctx.args
    g_g = perceive_at(v, wT, idx, periodic) if ctx.needs_input_grad[0] else None
    g_w = perceive_at_weight_grad(v, g, idx, periodic) if ctx.needs_input_grad[1] else None
    return g_g, g_w, None, None, None


def _at_weight_grad_backward(ctx, u):
    x, g, idx = ctx.saved_tensors
    (periodic,) = ctx.args
    g_x = perceive_at_input_grad(g, u, idx, list(x.shape), periodic) if ctx.needs_input_grad[0] else None
    g_g = perceive_at(x, u, idx, periodic) if ctx.needs_input_grad[1] else None
    return g_x, g_g, None, None


perceive_at = native_autograd_op(_perceive_at, _perceive_at_backward, _save_three)
perceive_at_input_grad = native_autograd_op(_perceive_at_input_grad, _at_input_grad_backward, _save_three)
perceive_at_weight_grad = native_autograd_op(_perceive_at_weight_grad, _at_weight_grad_backward, _save_three)
for _op in (_perceive_at, _perceive_at_input_grad, _perceive_at_weight_grad):
    native_batch_vmap(_op, batch_args=())  # idx addresses the whole batch: one call per vmapped slice


# ---- what the cell calls ---------------------------------------------------------------------------
def _transposed(kernel: torch.Tensor) -> torch.Tensor:
    """``[C·m, 1, 3, 3, 3]`` → ``wT [27, C·m]`` (differentiable: the kernel's gradient flows back through it)."""
    return kernel.reshape(kernel.shape[0], 27).t().contiguous()


def depthwise_perception(grid: torch.Tensor, kernel: torch.Tensor, periodic: tuple[bool, bool, bool]) -> torch.Tensor:
    """``grid [B, X, Y, Z, C]``, ``kernel [C·m, 1, 3, 3, 3]`` → ``[B, X, Y, Z, C·m]`` (see the module docstring)."""
    return perceive(grid, _transposed(kernel), [bool(p) for p in periodic])


def depthwise_perception_at(grid: torch.Tensor, kernel: torch.Tensor, periodic: tuple[bool, bool, bool],
                            idx: torch.Tensor) -> torch.Tensor:
    """The perception rows of the cells ``idx`` (sorted flat ids into ``[B·N]``) only: ``[R, C·m]``."""
    return perceive_at(grid, _transposed(kernel), idx.to(torch.int64), [bool(p) for p in periodic])
