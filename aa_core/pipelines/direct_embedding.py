"""The ``direct_embedding`` pipeline: question embedding → lattice → answer embedding.

``[B, D]`` →(write adapter)→ input face ``[B, F_in, C]`` on a zero lattice ``[B, N, C]``
→ propagator → output face ``[B, F_out·C]`` →(read adapter)→ ``[B, D]``.
With ``residual = true`` the input embedding is added to the output (the lattice learns a
correction to the identity map).
"""
from __future__ import annotations

import torch
from torch import nn

from ..configs import DirectEmbeddingConfig


class DirectEmbedding(nn.Module):
    def __init__(self, config: DirectEmbeddingConfig, ctx):
        super().__init__()
        self.geometry = ctx.geometry
        self.cell = ctx.cell
        self.propagator = ctx.propagator
        self.residual = config.residual
        self.channels = self.cell.channels
        self.embedding_dim = config.embedding_dim or ctx.embedding_dim
        self.register_buffer("input_cells", self.geometry.input_cells.clone(), persistent=False)
        self.register_buffer("output_cells", self.geometry.output_cells.clone(), persistent=False)
        C, D = self.channels, self.embedding_dim
        self.write = ctx.build("adapter", key="write", in_dim=D, out_dim=len(self.input_cells) * C)
        self.read = ctx.build("adapter", key="read", in_dim=len(self.output_cells) * C, out_dim=D)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, C = x.shape[0], self.channels
        face = self.write(x).view(B, -1, C)  # [B, F_in, C]
        state = x.new_zeros(B, self.geometry.num_cells, C).index_copy(1, self.input_cells, face)
        state = self.propagator(state)  # [B, N, C]
        out = self.read(state.index_select(1, self.output_cells).reshape(B, -1))  # [B, D]
        return out + x if self.residual else out


def build(config: DirectEmbeddingConfig, ctx) -> DirectEmbedding:
    return DirectEmbedding(config, ctx)
