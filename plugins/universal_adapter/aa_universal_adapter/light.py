"""Parameter-light face adapters: the embedding is put onto (or read off) the lattice face by a
fixed projection, so a model's trainable parameters sit in the lattice.

``fixed_projection``: a seeded semi-orthogonal matrix (orthonormal rows when widening, columns when
narrowing), regenerated from ``seed`` on every build (nothing to save); ``gain = true`` adds one
trainable scalar. ``shared_cell``: the fixed projection to ``rank`` values per face cell, then one
``rank → channels`` linear map shared by every cell (writing), or its mirror (reading); its
parameters do not grow with the face area.
"""
from __future__ import annotations

import torch
from torch import nn


def semi_orthogonal(in_dim: int, out_dim: int, seed: int) -> torch.Tensor:
    """``[in_dim, out_dim]`` with orthonormal rows (in ≤ out) or columns (in > out), from a private generator."""
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(max(in_dim, out_dim), min(in_dim, out_dim), generator=g, dtype=torch.float64)
    q, r = torch.linalg.qr(a)  # q: [max, min], orthonormal columns
    q = q * torch.sign(torch.diagonal(r)).unsqueeze(0)  # a unique, sign-fixed factor
    return (q.T if in_dim <= out_dim else q).float().contiguous()


class FixedProjection(nn.Module):
    """``x @ P`` with a fixed semi-orthogonal ``P``; optionally one trainable gain."""

    weight: torch.Tensor  # buffer

    def __init__(self, in_dim: int, out_dim: int, seed: int = 0, gain: bool = False):
        super().__init__()
        self.in_dim, self.out_dim = in_dim, out_dim
        self.register_buffer("weight", semi_orthogonal(in_dim, out_dim, seed), persistent=False)
        self.gain = nn.Parameter(torch.ones(())) if gain else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, in] → [B, out]
        y = x @ self.weight.to(x.dtype)
        return y * self.gain if self.gain is not None else y


class SharedCell(nn.Module):
    """Write (in = D, out = F·C): fixed D → F·r, then a shared r → C map per cell.
    Read (in = F·C, out = D): a shared C → r map per cell, then fixed F·r → D.
    ``channels`` (C) comes from the build context's cell; ``rank`` (r) from the config."""

    def __init__(self, in_dim: int, out_dim: int, channels: int, rank: int, seed: int = 0, writing: bool = True):
        super().__init__()
        self.in_dim, self.out_dim, self.channels, self.rank = in_dim, out_dim, channels, rank
        self.writing = writing
        face = (out_dim if self.writing else in_dim) // channels
        if (out_dim if self.writing else in_dim) % channels:
            raise ValueError(f"shared_cell: face width {out_dim if self.writing else in_dim} is not a multiple of the cell's {channels} channels")
        self.cells = face
        if self.writing:
            self.fixed = FixedProjection(in_dim, face * rank, seed)
            self.shared = nn.Linear(rank, channels)
        else:
            self.shared = nn.Linear(channels, rank)
            self.fixed = FixedProjection(face * rank, out_dim, seed)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B = x.shape[0]
        if self.writing:
            return self.shared(self.fixed(x).view(B, self.cells, self.rank)).reshape(B, -1)  # [B, F·C]
        return self.fixed(self.shared(x.view(B, self.cells, self.channels)).reshape(B, -1))  # [B, D]


def build_fixed_projection(config, ctx, in_dim: int, out_dim: int) -> FixedProjection:
    return FixedProjection(in_dim, out_dim, config.seed, config.gain)


def build_shared_cell(config, ctx, in_dim: int, out_dim: int) -> SharedCell:
    channels = config.channels or (ctx.cell.channels if ctx is not None else None)
    if channels is None:
        raise ValueError("shared_cell needs the cell's channel count: build it in a lattice pipeline or set adapter.channels")
    if config.direction != "auto":
        writing = config.direction == "write"
    else:  # onto the face when the input is the embedding (the context's width), else off it
        with_tokenizer = ctx is not None and "tokenizer" in ctx.spec.components  # a lattice-only spec has no embedding width
        writing = in_dim == ctx.embedding_dim if with_tokenizer else out_dim % channels == 0 and in_dim % channels != 0
    return SharedCell(in_dim, out_dim, channels, config.rank, config.seed, writing)
