"""The ``hybrid_embedding`` pipeline: embedding → adapter → lattice → the adapter's inverse → embedding.

``[B, D]`` →(write adapter, e.g. ``autoencoder``)→ input face ``[B, F_in, C]`` on a zero lattice
→ propagator → output face ``[B, F_out·C]`` →(the write adapter's learned inverse ``decode``
when it has one and F_out = F_in, else a read adapter)→ ``[B, D]``. Trained like
``direct_embedding`` (cosine + optional contrastive loss, plus the autoencoder's reconstruction
loss); the [decoder] (``generative``) turns the predicted embedding into new text.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from aa_core.plugin import EmbeddingLoss

from .config import HybridEmbeddingConfig


class HybridEmbedding(EmbeddingLoss, nn.Module):
    input_cells: torch.Tensor
    output_cells: torch.Tensor

    def __init__(self, config: HybridEmbeddingConfig, ctx: Any):
        super().__init__()
        self.geometry = ctx.geometry
        self.propagator = ctx.propagator
        self.channels = ctx.cell.channels
        self.residual = config.residual
        self.embedding_dim = config.embedding_dim or ctx.embedding_dim
        self.register_buffer("input_cells", self.geometry.input_cells.clone(), persistent=False)
        self.register_buffer("output_cells", self.geometry.output_cells.clone(), persistent=False)
        C, D = self.channels, self.embedding_dim
        self.write = ctx.build("adapter", key="write", in_dim=D, out_dim=len(self.input_cells) * C)
        self.inverse = callable(getattr(self.write, "decoder", None)) and len(self.output_cells) == len(self.input_cells)
        self.read = None if self.inverse else ctx.build("adapter", key="read", in_dim=len(self.output_cells) * C, out_dim=D)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, C = x.shape[0], self.channels
        face = self.write(x).view(B, -1, C)
        state = x.new_zeros(B, self.geometry.num_cells, C).index_copy(1, self.input_cells, face)
        out_face = self.propagator(state).index_select(1, self.output_cells).reshape(B, -1)
        out = self.write.decode(out_face) if self.inverse else self.read(out_face)  # type: ignore[misc]
        return out + x if self.residual else out


def build(config: HybridEmbeddingConfig, ctx: Any) -> HybridEmbedding:
    return HybridEmbedding(config, ctx)
