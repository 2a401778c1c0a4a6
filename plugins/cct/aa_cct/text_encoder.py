"""The ``cct_text`` encoder: token ids ``[B, L]`` → the lattice's input face ``[B, F, C]``.

The text variant of CCT (Hassani et al. 2021, ``src/text/cct.py``): token embeddings, a
convolutional tokenizer (Conv1d → ReLU → MaxPool1d(2)) instead of one token per word, a small
masked pre-LN transformer encoder, then SeqPool. CCT's SeqPool is one attention-weighted mean
over the sequence; here it has one attention head per input-face cell (F softmax weightings
of the same encoded sequence), each mapped ``dim → C``, so every face cell reads its own
summary of the text. Padding (id ``pad_id``) is masked in the conv output, the pooling and
the attention.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .cell import EncoderLayer
from .config import CCTTextConfig


class CCTTextEncoder(nn.Module):
    def __init__(self, config: CCTTextConfig, vocab_size: int, pad_id: int, cells: int, channels: int):
        super().__init__()
        d = config.dim
        self.config = config
        self.vocab_size, self.pad_id = vocab_size, pad_id
        self.cells, self.channels = cells, channels
        self.embed = nn.Embedding(vocab_size, config.embed_dim, padding_idx=pad_id)
        self.conv = nn.Conv1d(config.embed_dim, d, config.kernel, padding=config.kernel // 2)
        positions = (config.max_length + 1) // 2 if config.pool else config.max_length
        self.pos = nn.Parameter(torch.empty(positions, d))
        nn.init.trunc_normal_(self.pos, std=0.2)
        self.layers = nn.ModuleList(EncoderLayer(d, config.heads, config.mlp_hidden) for _ in range(config.layers))
        self.norm = nn.LayerNorm(d)
        self.pool = nn.Linear(d, cells)  # SeqPool: one attention weighting per face cell
        self.head = nn.Linear(d, channels)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """``[B, L]`` long → ``[B, F, C]``."""
        ids = ids[:, : self.config.max_length]
        keep = ids != self.pad_id  # [B, L]
        keep = keep | (keep.sum(1, keepdim=True) == 0) & (torch.arange(ids.shape[1], device=ids.device) == 0)  # an empty text keeps one token
        x = (self.embed(ids) * keep[:, :, None]).transpose(1, 2)  # [B, E, L]; padding contributes nothing
        x = F.relu(self.conv(x)) * keep[:, None, :]
        if self.config.pool:
            x = F.max_pool1d(x, 2, 2, ceil_mode=True)
            keep = F.max_pool1d(keep[:, None, :].float(), 2, 2, ceil_mode=True)[:, 0] > 0
        x = x.transpose(1, 2) + self.pos[: x.shape[2]]  # [B, T, d]
        for layer in self.layers:
            x = layer(x, keep)
        x = self.norm(x)
        w = self.pool(x).masked_fill(~keep[:, :, None], float("-inf")).softmax(dim=1)  # [B, T, F]
        return self.head(torch.einsum("btf,btd->bfd", w, x))  # [B, F, C]


def build(config: CCTTextConfig, ctx) -> CCTTextEncoder:
    sub = ctx.build("subword", default="bpe")
    return CCTTextEncoder(config, sub.vocab_size, sub.pad_id, len(ctx.geometry.input_cells), ctx.cell.channels)
