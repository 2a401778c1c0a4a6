"""The built-in ``linear`` adapter: one learned affine map between two widths."""
from __future__ import annotations

import torch
from torch import nn

from .configs import LinearAdapterConfig


class LinearAdapter(nn.Module):
    def __init__(self, config: LinearAdapterConfig, in_dim: int, out_dim: int):
        super().__init__()
        self.in_dim, self.out_dim = in_dim, out_dim
        self.proj = nn.Linear(in_dim, out_dim, bias=config.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x)  # [B, in] -> [B, out]


def build(config: LinearAdapterConfig, ctx, in_dim: int, out_dim: int) -> LinearAdapter:
    return LinearAdapter(config, in_dim, out_dim)
