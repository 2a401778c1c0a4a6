"""The ``cct`` cell: Compact Convolutional Transformer over a cell's neighbourhood.

Hassani et al. 2021 ("Escaping the Big Data Paradigm with Compact Transformers"): a conv
tokenizer instead of patch embedding, a small pre-LN transformer encoder, and SeqPool
(attention-weighted mean of the output tokens) instead of a class token. Here the tokens
are the K neighbour positions of one cell, so the whole model runs batched over B·N
independent sequences of length K; the pooled vector maps to the update Δs ``[C]``.

CCT's max-pool after the tokenizer conv is left out: K ≤ 27 tokens are few already, and
pooling positions would mix the cell's own token with its neighbours before attention.
"""
from __future__ import annotations

import itertools

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from .config import CCTCellConfig


def tap_index(offsets, kernel: int) -> torch.Tensor:
    """``[K, kernel³]``: for token p and conv tap t, the token at offset p + t, or K (zero) if absent.

    A kernel-3 conv (padding 1) over the 3×3×3 neighbourhood cube, with zeros at positions
    outside the neighbourhood, read at the K neighbour positions, is exactly a matmul over
    these gathered taps.
    """
    where = {o: i for i, o in enumerate(offsets)}
    r = (-1, 0, 1) if kernel == 3 else (0,)
    taps = list(itertools.product(r, r, r))
    K = len(offsets)
    return torch.tensor([[where.get((p[0] + t[0], p[1] + t[1], p[2] + t[2]), K) for t in taps] for p in offsets])


class EncoderLayer(nn.Module):
    """Pre-LN transformer layer over ``[M, K, d]`` with ``F.scaled_dot_product_attention``."""

    def __init__(self, dim: int, heads: int, mlp_hidden: int):
        super().__init__()
        self.heads = heads
        self.ln1 = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.ln2 = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, mlp_hidden)
        self.fc2 = nn.Linear(mlp_hidden, dim)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """``mask`` ``[M, K]`` (bool, optional): the keys each sequence may attend to."""
        q, k, v = rearrange(self.qkv(self.ln1(x)), "m k (three h e) -> three m h k e", three=3, h=self.heads)
        a = F.scaled_dot_product_attention(q, k, v, attn_mask=None if mask is None else mask[:, None, None, :])  # [M, h, K, e]
        x = x + self.proj(rearrange(a, "m h k e -> m k (h e)"))
        return x + self.fc2(F.gelu(self.fc1(self.ln2(x))))


class CCTCell(nn.Module):
    taps: torch.Tensor  # [K, T] buffer: the tokenizer's taps at each neighbour position

    def __init__(self, config: CCTCellConfig, geometry):
        super().__init__()
        C, d = config.size("channels"), config.size("dim")
        self.config = config
        self.channels = C
        self.dim = d
        self.k = geometry.k
        self.tokenizer = nn.Conv3d(C, d, config.tokenizer_kernel)  # weights used via tap_index
        self.register_buffer("taps", tap_index(geometry.offsets, config.tokenizer_kernel), persistent=False)
        self.pos = nn.Parameter(torch.empty(self.k, d))
        nn.init.trunc_normal_(self.pos, std=0.2)  # as CCT's learnable positional embedding
        self.layers = nn.ModuleList(EncoderLayer(d, config.size("heads"), config.mlp_hidden) for _ in range(config.size("layers")))
        self.norm = nn.LayerNorm(d)
        self.pool = nn.Linear(d, 1)  # SeqPool attention
        self.head = nn.Linear(d, C)
        if config.zero_init:
            nn.init.zeros_(self.head.weight)
            nn.init.zeros_(self.head.bias)

    def tokenize(self, nb: torch.Tensor) -> torch.Tensor:
        """``[M, K, C]`` → ``[M, K, d]``: conv over the neighbourhood cube at the K positions, ReLU."""
        M, K, C = nb.shape
        if self.config.tokenizer_kernel == 1:  # each token is its own position's state: no taps to gather
            patches = nb
        else:
            padded = torch.cat([nb, nb.new_zeros(M, 1, C)], dim=1)
            patches = rearrange(padded[:, self.taps], "m k t c -> m k (t c)")  # [M, K, T·C]
        w = rearrange(self.tokenizer.weight, "d c x y z -> d (x y z c)")
        return F.relu(F.linear(patches, w, self.tokenizer.bias))

    def _cells(self, nb: torch.Tensor) -> torch.Tensor:
        x = self.tokenize(nb) + self.pos  # [M, K, d]
        for layer in self.layers:
            x = layer(x)
        x = self.norm(x)
        w = torch.softmax(self.pool(x).squeeze(-1), dim=-1)  # [M, K]
        return self.head(torch.einsum("mk,mkd->md", w, x))  # [M, C]

    def forward(self, neighbourhood: torch.Tensor) -> torch.Tensor:
        """``[B, N, K, C]`` → ``[B, N, C]``, batched over B·N sequences in chunks of cells."""
        B, N, K, C = neighbourhood.shape
        flat = rearrange(neighbourhood, "b n k c -> (b n) k c")
        width = max(self.taps.shape[1] * C, 3 * self.dim, self.config.mlp_hidden, K)
        chunk = self.config.chunk_cells or max(1, (1 << 22) // (K * width))
        out = torch.cat([self._cells(flat[i : i + chunk]) for i in range(0, flat.shape[0], chunk)], dim=0)
        return rearrange(out, "(b n) c -> b n c", b=B)


def build(config: CCTCellConfig, ctx) -> CCTCell:
    return CCTCell(config, ctx.geometry)
