"""The universal adapter: ``[B, in_dim]`` → ``[B, out_dim]`` by one of four strategies.

Every strategy reports ``reconstruction_error(x)``: how much of the input the output still
holds, as relative MSE ``‖x̂ − x‖² / ‖x‖²``. The autoencoder uses its own decoder; the others
use the best linear read-back (a ridge fit from outputs to inputs on ``x_fit``, by default
``x`` itself), so 0 means "linearly invertible" and 1 means "nothing recoverable".
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from .config import AttentionConfig


def _widths(a: int, b: int, levels: int) -> list[int]:
    """``levels + 1`` widths from a to b, geometrically spaced."""
    return [a] + [max(1, round(a * (b / a) ** (i / levels))) for i in range(1, levels)] + [b]


def _mlp(widths: list[int], bias: bool) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
        layers.append(nn.Linear(a, b, bias=bias))
        if i < len(widths) - 2:
            layers.append(nn.GELU())
    return nn.Sequential(*layers)


class AttentionAdapter(nn.Module):
    """Chunks → tokens ``[B, T, d]`` → self-attention block → T queries cross-attend → out chunks."""

    def __init__(self, in_dim: int, out_dim: int, cfg: AttentionConfig):
        super().__init__()
        T, d = cfg.tokens, cfg.d_model
        self.T = T
        self.chunk_in = math.ceil(in_dim / T)
        self.chunk_out = math.ceil(out_dim / T)
        self.pad = self.chunk_in * T - in_dim
        self.out_dim = out_dim
        self.embed = nn.Linear(self.chunk_in, d)
        self.pos = nn.Parameter(torch.randn(T, d) * 0.02)
        self.norm1 = nn.LayerNorm(d)
        self.attn = nn.MultiheadAttention(d, cfg.heads, batch_first=True)
        self.norm2 = nn.LayerNorm(d)
        self.ff = nn.Sequential(nn.Linear(d, 2 * d), nn.GELU(), nn.Linear(2 * d, d))
        self.queries = nn.Parameter(torch.randn(T, d) * 0.02)
        self.cross = nn.MultiheadAttention(d, cfg.heads, batch_first=True)
        self.head = nn.Linear(d, self.chunk_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B = x.shape[0]
        t = rearrange(F.pad(x, (0, self.pad)), "b (t c) -> b t c", t=self.T)
        h = self.embed(t) + self.pos  # [B, T, d]
        a = self.norm1(h)
        h = h + self.attn(a, a, a, need_weights=False)[0]
        h = h + self.ff(self.norm2(h))
        q = self.queries.expand(B, -1, -1)
        o = self.cross(q, h, h, need_weights=False)[0]  # [B, T, d]
        return rearrange(self.head(o), "b t c -> b (t c)")[:, : self.out_dim]  # [B, out]


class UniversalAdapter(nn.Module):
    """One of the four strategies; ``strategy`` names it, ``config`` is that strategy's config."""

    def __init__(self, strategy: str, config, in_dim: int, out_dim: int):
        super().__init__()
        self.config = config
        self.strategy = strategy
        self.in_dim, self.out_dim = in_dim, out_dim
        self.decoder: nn.Module | None = None
        self.reconstruction_weight = 0.0
        if strategy == "learned_linear":
            self.encoder: nn.Module = nn.Linear(in_dim, out_dim, bias=config.bias)
        elif strategy == "hierarchical":
            self.encoder = _mlp(_widths(in_dim, out_dim, config.levels), config.bias)
        elif strategy == "attention_based":
            self.encoder = AttentionAdapter(in_dim, out_dim, config)
        elif strategy == "autoencoder":
            hidden = config.hidden or max(in_dim, out_dim)
            self.encoder = _mlp([in_dim, hidden, out_dim], config.bias)
            self.decoder = _mlp([out_dim, hidden, in_dim], config.bias)
            self.reconstruction_weight = config.reconstruction_weight
        else:
            raise ValueError(f"unknown strategy {strategy!r}")
        self.aux_loss: torch.Tensor | None = None  # set in training forward passes (autoencoder)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.encoder(x)  # [B, out]
        if self.decoder is not None and self.training and self.reconstruction_weight > 0:
            self.aux_loss = self.reconstruction_weight * _relative_mse(self.decoder(y), x)
        return y

    def decode(self, y: torch.Tensor) -> torch.Tensor:
        """``[B, out]`` → ``[B, in]``: the learned inverse (autoencoder only)."""
        if self.decoder is None:
            raise AttributeError(f"strategy {self.strategy!r} has no learned decoder; use reconstruction_error")
        return self.decoder(y)

    @torch.no_grad()
    def reconstruction_error(self, x: torch.Tensor, x_fit: torch.Tensor | None = None, ridge: float = 1e-3) -> float:
        """Relative MSE of reconstructing ``x`` ``[B, in]`` from this adapter's output."""
        was = self.training
        self.eval()
        try:
            y = self.encoder(x)
            if self.decoder is not None:
                return float(_relative_mse(self.decoder(y), x))
            xf = x if x_fit is None else x_fit
            yf = self.encoder(xf)
            yf1 = torch.cat([yf, torch.ones(len(yf), 1, dtype=yf.dtype)], 1).double()  # [n, out+1]
            gram = yf1.T @ yf1 + ridge * torch.eye(yf1.shape[1], dtype=torch.float64)
            R = torch.linalg.solve(gram, yf1.T @ xf.double())  # [out+1, in]
            y1 = torch.cat([y, torch.ones(len(y), 1, dtype=y.dtype)], 1).double()
            return float(_relative_mse((y1 @ R).to(x.dtype), x))
        finally:
            self.train(was)


def _relative_mse(xhat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return ((xhat - x) ** 2).sum() / (x**2).sum().clamp_min(1e-12)


def _factory(strategy: str):
    def build(config, ctx, in_dim: int, out_dim: int) -> UniversalAdapter:
        return UniversalAdapter(strategy, config, in_dim, out_dim)

    build.__name__ = f"build_{strategy}"
    return build


build_learned_linear = _factory("learned_linear")
build_hierarchical = _factory("hierarchical")
build_attention_based = _factory("attention_based")
build_autoencoder = _factory("autoencoder")
