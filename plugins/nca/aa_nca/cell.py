"""The ``growing_nca`` cell: per-channel perception, then a 1×1 update MLP with a zero last layer.

Perception maps each channel c to ``m`` features by 3×3×3 kernels (output feature ``c·m + j``):
``"sobel"`` = identity, Sobel-x, Sobel-y inside each z-plane (Mordvintsev et al. 2020, fixed),
``"learned"`` = m trained kernels per channel (Sudhakaran et al. 2021). The update MLP is
m·C → hidden… → C with ReLU between; the last layer is zero-initialised, so the first steps of
training leave the seed alone and growth is learned from there.

``forward`` is the Cell contract on gathered neighbourhoods; ``lattice_forward`` is the same map
on the channels-last grid (``lattice_forward_at``: only at the cells the propagator asks for, a
:class:`~aa_core.protocols.MaskedLatticeCell`): the perception by the C++ kernel of :mod:`aa_nca.cell_kernel`
(forward and backward; fp32 CPU; torch custom ops, so ``torch.compile``, the meta device and ``torch.func``
trace it) or else one grouped convolution (2D when the lattice is one z-plane thick), then per-cell
linears (:func:`pointwise`).
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import nn

from aa_core.plugin import mask_kernel, pointwise, stencil_conv

from . import cell_kernel
from .config import GrowingNCACellConfig


def sobel_kernel(channels: int) -> torch.Tensor:
    """``[3·C, 1, 3, 3, 3]``: identity, Sobel along x, Sobel along y (the dz = 0 plane), per channel."""
    k = torch.zeros(3, 3, 3, 3)
    smooth = torch.tensor([1.0, 2.0, 1.0])
    diff = torch.tensor([-1.0, 0.0, 1.0])
    k[0, 1, 1, 1] = 1.0
    k[1, :, :, 1] = torch.outer(diff, smooth) / 8  # d/dx: varies along x (first index)
    k[2, :, :, 1] = torch.outer(smooth, diff) / 8  # d/dy
    return k.repeat(channels, 1, 1, 1).view(3 * channels, 1, 3, 3, 3)


def _pad_xy(x: torch.Tensor, periodic: tuple[bool, bool]) -> torch.Tensor:
    """Pad ``[B, C, X, Y]`` by one cell in x and y: wrap-around on periodic axes, zeros otherwise."""
    for dim, wrap in ((2, periodic[0]), (3, periodic[1])):
        n = x.shape[dim]
        if wrap:
            x = torch.cat([x.narrow(dim, n - 1, 1), x, x.narrow(dim, 0, 1)], dim)
        else:
            z = x.new_zeros(x.shape[:dim] + (1,) + x.shape[dim + 1:])
            x = torch.cat([z, x, z], dim)
    return x


class GrowingNCACell(nn.Module):
    kernel: torch.Tensor  # a buffer (sobel) or a parameter (learned)

    def __init__(self, config: GrowingNCACellConfig, geometry: Any):
        super().__init__()
        C = self.channels = config.channels
        self.perception = config.perception
        m = self.multiplier = 3 if config.perception == "sobel" else config.multiplier
        self.geometry = geometry
        self.use_kernel = True  # fp32 CPU grids take the C++ perception (aa_nca.cell_kernel) when it builds
        if config.perception == "sobel":
            self.register_buffer("kernel", sobel_kernel(C))
        else:
            self.kernel = nn.Parameter(torch.empty(C * m, 1, 3, 3, 3).uniform_(-1, 1) / 27**0.5)
        widths = [m * C, *config.hidden, C]
        linears = [nn.Linear(a, b) for a, b in zip(widths[:-1], widths[1:])]
        self.layers = nn.ModuleList(linears)
        if config.zero_init:
            nn.init.zeros_(linears[-1].weight)
            nn.init.zeros_(linears[-1].bias)

    def update(self, p: torch.Tensor) -> torch.Tensor:
        """The 1×1 MLP on perception features ``[..., m·C]`` → ``[..., C]``."""
        for i, layer in enumerate(cast("Iterable[nn.Linear]", self.layers)):  # a ModuleList of Linear
            p = pointwise(p, layer.weight, layer.bias)
            if i < len(self.layers) - 1:
                p = F.relu(p)
        return p

    def forward(self, neighbourhood: torch.Tensor) -> torch.Tensor:
        """``[B, N, K, C]`` → ``[B, N, C]`` (the reference path)."""
        C, m = self.channels, self.multiplier
        pos = self.geometry.stencil_positions.to(self.kernel.device)
        w = self.kernel.view(C, m, 27)[:, :, pos].to(neighbourhood.dtype)  # [C, m, K]
        p = torch.einsum("bnkc,cmk->bncm", neighbourhood, w).reshape(*neighbourhood.shape[:2], C * m)
        return self.update(p)

    def perceive(self, grid: torch.Tensor, geometry: Any) -> torch.Tensor:
        """``[B, X, Y, Z, C]`` → perception features ``[B, X, Y, Z, m·C]``."""
        B, X, Y, Z, C = grid.shape
        if self.use_kernel and cell_kernel.available(grid):
            return cell_kernel.depthwise_perception(grid, mask_kernel(self.kernel, geometry), geometry.periodic_axes)
        if Z != 1:
            return stencil_conv(grid, self.kernel, None, geometry, groups=C)
        # one z-plane: the z-neighbours are outside (zero boundary) or the cell itself (periodic)
        w = mask_kernel(self.kernel, geometry)
        w2 = w.sum(-1) if geometry.periodic_axes[2] else w[..., 1]  # [mC, 1, 3, 3]
        x = grid.view(B, X, Y, C).permute(0, 3, 1, 2)  # [B, C, X, Y], channels-last memory
        if geometry.periodic_axes[0] or geometry.periodic_axes[1]:
            x, padding = _pad_xy(x, geometry.periodic_axes[:2]), 0
        else:
            padding = 1
        out = F.conv2d(x.contiguous(memory_format=torch.channels_last), w2.to(x.dtype), None, padding=padding, groups=C)
        return out.permute(0, 2, 3, 1).reshape(B, X, Y, 1, -1)

    def lattice_forward(self, grid: torch.Tensor, geometry: Any) -> torch.Tensor:
        """``[B, X, Y, Z, C]`` → ``[B, X, Y, Z, C]``; equal to ``forward`` on the gather."""
        return self.update(self.perceive(grid, geometry))

    def lattice_forward_at(self, grid: torch.Tensor, geometry: Any, where: torch.Tensor) -> torch.Tensor:
        """``lattice_forward`` where ``where [B, X, Y, Z, 1]`` holds, zero elsewhere: the update
        MLP (most of a step's arithmetic) runs on those cells' perception rows only."""
        idx = where.reshape(-1).nonzero().squeeze(1)  # flat ids into [B·N], sorted
        if self.use_kernel and cell_kernel.available(grid):  # the perception of those cells only
            rows = cell_kernel.depthwise_perception_at(grid, mask_kernel(self.kernel, geometry), geometry.periodic_axes, idx)
        else:
            p = self.perceive(grid, geometry)
            rows = p.reshape(-1, p.shape[-1]).index_select(0, idx)  # [R, m·C]
        out = grid.new_zeros(grid.shape[:-1].numel(), self.channels).index_copy(0, idx, self.update(rows))
        return out.view(*grid.shape[:-1], self.channels)


def build(config: GrowingNCACellConfig, ctx: Any) -> GrowingNCACell:
    return GrowingNCACell(config, ctx.geometry)
