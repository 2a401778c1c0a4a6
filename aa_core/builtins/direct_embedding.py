"""The ``direct_embedding`` pipeline: question embedding → lattice → answer embedding.

``[B, D]`` →(write adapter)→ input face ``[B, F_in, C]`` on a zero lattice ``[B, N, C]``
→ propagator → output face ``[B, F_out·C]`` →(read adapter)→ ``[B, D]``.
With ``residual = true`` the input embedding is added to the output (the lattice learns a
correction to the identity map).
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..protocols import AuxiliaryLoss
from .configs import DirectEmbeddingConfig


def aux_losses(model: nn.Module) -> torch.Tensor | float:
    """Sum of the auxiliary losses components set during a training forward (e.g. autoencoder adapters)."""
    total: torch.Tensor | float = 0.0
    for m in model.modules():
        aux = m.aux_loss if isinstance(m, AuxiliaryLoss) else None
        if isinstance(aux, torch.Tensor):
            total = total + aux
            m.aux_loss = None  # a plain attribute (reset after reading), not a submodule
    return total


class EmbeddingLoss:
    """Mixin: the Pipeline contract's ``training_loss`` and ``example_batch`` for embedding → embedding
    models: mean(1 − cosine) to the target plus the components' auxiliary losses. A task with its own
    objective (aa-qa's cosine + in-batch contrastive loss) computes the loss itself from ``forward``.

    Batch: ``inputs [B, D]``, ``targets [B, D]``.
    """

    embedding_dim: int

    def training_loss(self, batch: dict[str, torch.Tensor], settings: Any) -> torch.Tensor:
        pred = self(batch["inputs"])  # type: ignore[operator]
        loss = (1 - F.cosine_similarity(pred, batch["targets"], dim=-1)).mean()
        return loss + aux_losses(self)  # type: ignore[arg-type]

    def example_batch(self, size: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
        x = torch.randn(size, self.embedding_dim, generator=generator)
        y = torch.randn(size, self.embedding_dim, generator=generator)
        return {"inputs": F.normalize(x, dim=-1), "targets": F.normalize(y, dim=-1)}


class DirectEmbedding(EmbeddingLoss, nn.Module):
    input_cells: torch.Tensor  # buffers (registered in __init__)
    output_cells: torch.Tensor

    def __init__(self, config: DirectEmbeddingConfig, ctx: Any):
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

    def initial_state(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, D]`` → the lattice before the first step ``[B, N, C]``: the written input face, zeros elsewhere."""
        B, C = x.shape[0], self.channels
        face = self.write(x).view(B, -1, C)  # [B, F_in, C]
        return x.new_zeros(B, self.geometry.num_cells, C).index_copy(1, self.input_cells, face)

    def readout(self, state: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """The final state ``[B, N, C]`` → the predicted embedding ``[B, D]`` (read off the output face)."""
        out = self.read(state.index_select(1, self.output_cells).reshape(state.shape[0], -1))  # [B, D]
        return out + x if self.residual else out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.readout(self.propagator(self.initial_state(x)), x)


def build(config: DirectEmbeddingConfig, ctx: Any) -> DirectEmbedding:
    return DirectEmbedding(config, ctx)
