"""Fast lattice-wide building blocks any cell can use in its ``lattice_forward``.

A cell that reads its neighbourhood through a learned linear map is a 3×3×3 convolution over
the lattice (masked to the 6/18/26 neighbourhood); per-cell maps are 1×1×1 convolutions, i.e.
``F.linear`` over the channels-last grid. These helpers keep the state channels-last
(``[B, X, Y, Z, C]`` — the memory layout of the ``[B, N, C]`` state, so no copies) and use
oneDNN directly (``torch.mkldnn_convolution``): on CPU, fp32 ``F.conv3d`` at batch 1 takes a
slow non-oneDNN kernel (~20 GFLOP/s measured here) while oneDNN on channels-last input runs
~10-20× faster. oneDNN supports autograd, so the same path serves training; a pure depthwise
kernel (``groups = Cin = Cout``) takes its input gradient as a oneDNN forward with the flipped
kernel instead (autograd's grouped-convolution backward is many times slower on these shapes;
``bench/stencil_backward.py`` measures both).

- :func:`stencil_conv` — ``[B, X, Y, Z, Cin]`` → ``[B, X, Y, Z, Cout]`` by a 3×3×3 kernel
  ``[Cout, Cin/groups, 3, 3, 3]``, padded by the geometry's boundary rule, masked to its
  neighbourhood (so it equals the gather-based reference).
- :func:`neighbourhood_kernel` — a ``[H, K·C]`` weight over the gathered neighbourhood
  (the reference's flattened ``(k c)`` order) as that 3×3×3 kernel.
- :func:`per_neighbour_kernel` — a ``[K, C]`` weight (one per neighbour and channel) as the
  depthwise kernel ``[C, 1, 3, 3, 3]`` (use with ``groups=C``).
- :func:`pointwise` — per-cell linear map over the channels-last grid.

Orientation: the kernel is a cross-correlation, so kernel position ``(dx+1, dy+1, dz+1)`` multiplies
the neighbour at offset ``(dx, dy, dz)`` — the same neighbour ``geometry.gather`` puts at that
offset's index.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.autograd.function import once_differentiable

_MKLDNN_DTYPES = (torch.float32, torch.bfloat16)


def _use_mkldnn(x: torch.Tensor) -> bool:
    if torch.compiler.is_compiling():  # torch.compile traces F.conv3d (and lowers it to oneDNN itself), not the raw op
        return False
    return x.device.type == "cpu" and x.dtype in _MKLDNN_DTYPES and torch.backends.mkldnn.is_available()


def neighbourhood_kernel(weight: torch.Tensor, geometry, channels: int) -> torch.Tensor:
    """``[H, K·C]`` (flattened ``(k c)``) → ``[H, C, 3, 3, 3]`` conv kernel, zeros off the neighbourhood."""
    H = weight.shape[0]
    w = weight.view(H, geometry.k, channels)
    if geometry.k == 27:
        full = w
    else:
        full = weight.new_zeros(H, 27, channels)
        full = full.index_copy(1, geometry.stencil_positions.to(weight.device), w)
    return full.transpose(1, 2).reshape(H, channels, 3, 3, 3)


def per_neighbour_kernel(weight: torch.Tensor, geometry) -> torch.Tensor:
    """A per-neighbour, per-channel weight ``[K, C]`` (``geometry.offsets`` order) → depthwise kernel
    ``[C, 1, 3, 3, 3]`` for :func:`stencil_conv` with ``groups=C``: out[c] = Σ_k w[k, c] · x[neighbour k, c]."""
    K, C = weight.shape
    full = weight.new_zeros(27, C).index_copy(0, geometry.stencil_positions.to(weight.device), weight)
    return full.T.reshape(C, 1, 3, 3, 3)


def mask_kernel(weight: torch.Tensor, geometry) -> torch.Tensor:
    """Zero a ``[Cout, Cin, 3, 3, 3]`` kernel outside the neighbourhood (no-op for 26)."""
    if geometry.k == 27:
        return weight
    return weight * geometry.stencil_mask().to(weight)


def stencil_conv(
    grid: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    geometry,
    groups: int = 1,
    mask: bool = True,
) -> torch.Tensor:
    """3×3×3 convolution of a channels-last lattice ``[B, X, Y, Z, Cin]`` → ``[B, X, Y, Z, Cout]``."""
    if mask:
        weight = mask_kernel(weight, geometry)
    x = grid.permute(0, 4, 1, 2, 3)  # [B, Cin, X, Y, Z]; channels-last-3d view of a contiguous grid
    if geometry.all_zero_boundary:
        padding = (1, 1, 1)
    else:
        x = geometry.pad(x)
        padding = (0, 0, 0)
    if _use_mkldnn(x):
        x = x.contiguous(memory_format=torch.channels_last_3d)
        w, b = weight.to(x.dtype), None if bias is None else bias.to(x.dtype)
        if groups > 1 and groups == x.shape[1] == w.shape[0] and torch.is_grad_enabled():
            out = _DepthwiseConv.apply(x, w, b, padding)
        else:
            out = torch.mkldnn_convolution(x, w, b, padding, (1, 1, 1), (1, 1, 1), groups)
    else:
        out = F.conv3d(x, weight.to(x.dtype), None if bias is None else bias.to(x.dtype), padding=padding, groups=groups)
    return out.permute(0, 2, 3, 4, 1).contiguous()  # [B, X, Y, Z, Cout]; free when out is channels-last


class _DepthwiseConv(torch.autograd.Function):
    """oneDNN depthwise 3×3×3 conv ``[B, C, X, Y, Z]`` (channels-last) with a faster input gradient.

    The input gradient of a stride-1 correlation is the correlation of the output gradient with
    the spatially flipped kernel (padding ``2 − p``), itself a oneDNN forward; the weight gradient
    stays autograd's.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None, padding: tuple[int, int, int]) -> torch.Tensor:
        ctx.save_for_backward(x, w)
        ctx.padding, ctx.has_bias = padding, b is not None
        return torch.mkldnn_convolution(x, w, b, padding, (1, 1, 1), (1, 1, 1), x.shape[1])

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: torch.Tensor):
        x, w = ctx.saved_tensors
        C = x.shape[1]
        grad = grad.contiguous(memory_format=torch.channels_last_3d)
        g_x = g_w = g_b = None
        if ctx.needs_input_grad[0]:
            flipped = w.flip(2, 3, 4).contiguous()
            g_x = torch.mkldnn_convolution(grad, flipped, None, tuple(2 - p for p in ctx.padding), (1, 1, 1), (1, 1, 1), C)
        if ctx.needs_input_grad[1]:
            g_w = torch.ops.aten.convolution_backward(grad, x, w, None, (1, 1, 1), ctx.padding, (1, 1, 1), False,
                                                      (0, 0, 0), C, [False, True, False])[1]
        if ctx.has_bias and ctx.needs_input_grad[2]:
            g_b = grad.sum((0, 2, 3, 4))
        return g_x, g_w, g_b, None


def pointwise(grid: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """Per-cell linear map ``[B, X, Y, Z, Cin]`` → ``[B, X, Y, Z, Cout]`` (a 1×1×1 conv)."""
    return F.linear(grid, weight, bias)
