"""The ``ret`` cell: a small, honest "resource-efficient transformer" over the neighbourhood.

Krisvarish et al. 2025 (arXiv 2501.00042) reduce a transformer by halving the embedding width,
using fewer heads, and pruning and quantizing it. Here that is: tokens = the K neighbour
states embedded C → d plus a learned position embedding; ``layers`` pre-LN transformer layers
(``F.scaled_dot_product_attention``) whose weights may be shared (one set applied ``layers``
times); the centre token's output → LN → Linear(d, C) is the update. The last layer is
evaluated for the centre query only (its other outputs are never read), which is exact.

All projections are ``nn.Linear`` modules so that :func:`aa_ret.reduce.quantize_int8`
(``torch.ao.quantization.quantize_dynamic``) and :func:`aa_ret.reduce.prune_linears`
(``torch.nn.utils.prune``) reach every weight matrix.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from aa_core.plugin import UserError

from .config import RETCellConfig


class Layer(nn.Module):
    """Pre-LN transformer layer over ``[M, K, d]``; ``query`` restricts outputs to one token."""

    def __init__(self, dim: int, heads: int, mlp_hidden: int):
        super().__init__()
        self.heads = heads
        self.ln1 = nn.LayerNorm(dim)
        self.q = nn.Linear(dim, dim)
        self.kv = nn.Linear(dim, 2 * dim)
        self.proj = nn.Linear(dim, dim)
        self.ln2 = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, mlp_hidden)
        self.fc2 = nn.Linear(mlp_hidden, dim)

    def forward(self, x: torch.Tensor, query: int | None = None) -> torch.Tensor:
        h = self.ln1(x)
        if query is not None:
            x, hq = x[:, query : query + 1], h[:, query : query + 1]  # [M, 1, d]
        else:
            hq = h
        q = rearrange(self.q(hq), "m k (h e) -> m h k e", h=self.heads)
        k, v = rearrange(self.kv(h), "m k (two h e) -> two m h k e", two=2, h=self.heads)
        a = F.scaled_dot_product_attention(q, k, v)
        x = x + self.proj(rearrange(a, "m h k e -> m k (h e)"))
        return x + self.fc2(F.gelu(self.fc1(self.ln2(x))))


class RETCell(nn.Module):
    def __init__(self, config: RETCellConfig, geometry):
        super().__init__()
        C, d = config.size("channels"), config.size("dim")
        self.config = config
        self.channels = C
        self.dim = d
        self.k = geometry.k
        self.center = geometry.center_index
        self.depth = config.size("layers")
        self.embed = nn.Linear(C, d)
        self.pos = nn.Parameter(torch.randn(self.k, d) * 0.02)
        stored = 1 if config.share_layers else self.depth
        self.layers = nn.ModuleList(Layer(d, config.size("heads"), config.mlp_hidden) for _ in range(stored))
        self.norm = nn.LayerNorm(d)
        self.head = nn.Linear(d, C)
        if config.zero_init:
            nn.init.zeros_(self.head.weight)
            nn.init.zeros_(self.head.bias)
        self.quantized = False

    def _cells(self, nb: torch.Tensor) -> torch.Tensor:
        x = self.embed(nb) + self.pos  # [M, K, d]
        for i in range(self.depth):
            last = i == self.depth - 1
            x = self.layers[i % len(self.layers)](x, query=self.center if last else None)
        return self.head(self.norm(x[:, 0]))  # [M, C]

    def forward(self, neighbourhood: torch.Tensor) -> torch.Tensor:
        """``[B, N, K, C]`` → ``[B, N, C]``, batched over B·N sequences in chunks of cells."""
        if self.quantized and self.training:
            raise UserError("cell 'ret' with int8 = true is for inference only; train without int8 and quantize afterwards")
        B, N, K, C = neighbourhood.shape
        flat = rearrange(neighbourhood, "b n k c -> (b n) k c")
        width = max(3 * self.dim, self.config.mlp_hidden, K, C)
        chunk = self.config.chunk_cells or max(1, (1 << 22) // (K * width))
        out = torch.cat([self._cells(flat[i : i + chunk]) for i in range(0, flat.shape[0], chunk)], dim=0)
        return rearrange(out, "(b n) c -> b n c", b=B)


def build(config: RETCellConfig, ctx) -> nn.Module:
    from .reduce import prune_linears, quantize_int8

    cell: nn.Module = RETCell(config, ctx.geometry)
    if config.prune_amount > 0:
        prune_linears(cell, config.prune_amount)
    if config.int8:
        cell = quantize_int8(cell)
    return cell
