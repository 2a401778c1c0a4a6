"""The built-in ``mlp`` cell: a two-layer MLP over the flattened neighbourhood.

Reference form: ``[B, N, K, C]`` → flatten K·C → Linear → act → Linear → ``[B, N, C]``.
Lattice form: the first Linear is exactly a masked 3×3×3 conv, the second a 1×1×1 conv
(both via :mod:`aa_core.lattice.stencil`: oneDNN on the channels-last grid, no copies).
Parameters: (K·C + 1)·H + (H + 1)·C.
"""
from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from ..plugin import neighbourhood_kernel, pointwise, stencil_conv
from .configs import MLPCellConfig

_ACT: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {"relu": F.relu, "gelu": F.gelu, "tanh": torch.tanh}


class MLPCell(nn.Module):
    def __init__(self, config: MLPCellConfig, geometry):
        super().__init__()
        self.channels = config.channels
        self.geometry = geometry
        self.k = geometry.k
        self.act = _ACT[config.activation]
        self.fc1 = nn.Linear(self.k * config.channels, config.hidden)
        self.fc2 = nn.Linear(config.hidden, config.channels)
        if config.zero_init:
            nn.init.zeros_(self.fc2.weight)
            nn.init.zeros_(self.fc2.bias)

    def forward(self, neighbourhood: torch.Tensor) -> torch.Tensor:
        x = rearrange(neighbourhood, "b n k c -> b n (k c)")
        return self.fc2(self.act(self.fc1(x)))  # [B, N, C]

    def lattice_forward(self, grid: torch.Tensor, geometry) -> torch.Tensor:
        """``[B, X, Y, Z, C]`` → ``[B, X, Y, Z, C]`` via conv3d; equal to ``forward`` on the gather."""
        kernel = neighbourhood_kernel(self.fc1.weight, geometry, self.channels)  # [H, C, 3, 3, 3]
        h = stencil_conv(grid, kernel, self.fc1.bias, geometry, mask=False)  # [B, X, Y, Z, H]
        if self.act is F.relu and not torch.is_grad_enabled():
            h = h.relu_()  # saves a [B, X, Y, Z, H] buffer at inference
        else:
            h = self.act(h)
        return pointwise(h, self.fc2.weight, self.fc2.bias)


def build(config: MLPCellConfig, ctx) -> MLPCell:
    return MLPCell(config, ctx.geometry)
