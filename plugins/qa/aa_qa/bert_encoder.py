"""The teacher's forward pass in plain torch: a BERT encoder read straight from a transformers model
folder (``config.json``, ``model.safetensors``, ``tokenizer.json``).

Why: importing transformers' BERT costs seconds of start-up (``aa ask``, ``aa serve``) and adds
per-call overhead at batch 1; the encoder itself is a few matrix products. Folders this module
cannot read exactly (another architecture, other activations or position embeddings, no
``tokenizer.json``) return ``None`` from :func:`load`, and the teacher falls back to transformers.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

_SUPPORTED = {"model_type": "bert", "hidden_act": "gelu", "position_embedding_type": "absolute"}


class _Layer(nn.Module):
    def __init__(self, d: int, heads: int, ff: int, eps: float):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(d, 3 * d)  # query, key, value stacked (one matrix product)
        self.out = nn.Linear(d, d)
        self.norm1 = nn.LayerNorm(d, eps=eps)
        self.ff_in = nn.Linear(d, ff)
        self.ff_out = nn.Linear(ff, d)
        self.norm2 = nn.LayerNorm(d, eps=eps)

    def forward(self, x: torch.Tensor, keep: torch.Tensor | None) -> torch.Tensor:  # x [B, L, D], keep [B, 1, 1, L] bool
        B, L, D = x.shape
        q, k, v = self.qkv(x).view(B, L, 3, self.heads, D // self.heads).permute(2, 0, 3, 1, 4)  # 3 × [B, H, L, D/H]
        a = F.scaled_dot_product_attention(q, k, v, attn_mask=keep)  # [B, H, L, D/H]
        x = self.norm1(x + self.out(a.transpose(1, 2).reshape(B, L, D)))  # post-norm, as BERT
        return self.norm2(x + self.ff_out(F.gelu(self.ff_in(x))))


class BertEncoder(nn.Module):
    """Token ids ``[B, L]`` → last hidden states ``[B, L, D]`` (no pooler: sentence vectors are mean-pooled)."""

    def __init__(self, cfg: dict):
        super().__init__()
        d, eps = cfg["hidden_size"], cfg["layer_norm_eps"]
        if d % cfg["num_attention_heads"]:
            raise ValueError(f"hidden_size {d} is not divisible by num_attention_heads {cfg['num_attention_heads']}")
        self.words = nn.Embedding(cfg["vocab_size"], d)
        self.positions = nn.Embedding(cfg["max_position_embeddings"], d)
        self.types = nn.Embedding(cfg["type_vocab_size"], d)
        self.norm = nn.LayerNorm(d, eps=eps)
        self.layers = nn.ModuleList(_Layer(d, cfg["num_attention_heads"], cfg["intermediate_size"], eps)
                                    for _ in range(cfg["num_hidden_layers"]))

    def forward(self, ids: torch.Tensor, mask: torch.Tensor, types: torch.Tensor) -> torch.Tensor:
        pos = torch.arange(ids.shape[1], device=ids.device)
        x = self.norm(self.words(ids) + self.positions(pos)[None] + self.types(types))
        keep = None if bool(mask.all()) else mask.bool()[:, None, None, :]  # [B, 1, 1, L]: padding is never attended to
        for layer in self.layers:
            x = layer(x, keep)
        return x

    def load_bert_weights(self, tensors: dict[str, torch.Tensor]) -> None:
        """Copy transformers' ``BertModel`` tensors (names with or without a ``bert.`` prefix) into this module."""
        t = {k.removeprefix("bert."): v for k, v in tensors.items()}
        own: dict[str, torch.Tensor] = {
            "words.weight": t["embeddings.word_embeddings.weight"], "positions.weight": t["embeddings.position_embeddings.weight"],
            "types.weight": t["embeddings.token_type_embeddings.weight"],
            "norm.weight": t["embeddings.LayerNorm.weight"], "norm.bias": t["embeddings.LayerNorm.bias"],
        }
        for i in range(len(self.layers)):
            p = f"encoder.layer.{i}."
            att = p + "attention."
            for part in ("weight", "bias"):
                own[f"layers.{i}.qkv.{part}"] = torch.cat([t[f"{att}self.{n}.{part}"] for n in ("query", "key", "value")])
                own[f"layers.{i}.out.{part}"] = t[f"{att}output.dense.{part}"]
                own[f"layers.{i}.norm1.{part}"] = t[f"{att}output.LayerNorm.{part}"]
                own[f"layers.{i}.ff_in.{part}"] = t[f"{p}intermediate.dense.{part}"]
                own[f"layers.{i}.ff_out.{part}"] = t[f"{p}output.dense.{part}"]
                own[f"layers.{i}.norm2.{part}"] = t[f"{p}output.LayerNorm.{part}"]
        self.load_state_dict(own, strict=True)


class WordPieceTokenizer:
    """The folder's ``tokenizer.json`` through the tokenizers library: padded to the longest text, truncated."""

    def __init__(self, path: Path, max_length: int):
        from tokenizers import Tokenizer

        self._tok = Tokenizer.from_file(str(path / "tokenizer.json"))
        pad_id = self._tok.token_to_id("[PAD]")
        self._tok.enable_padding(pad_id=0 if pad_id is None else pad_id, pad_token="[PAD]")  # to the longest in the batch
        self._tok.enable_truncation(max_length=max_length)

    def __call__(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(ids, attention mask, token types)``, each ``[B, L]`` int64."""
        enc = self._tok.encode_batch(list(texts))
        return tuple(torch.tensor([getattr(e, f) for e in enc], dtype=torch.long)  # type: ignore[return-value]
                     for f in ("ids", "attention_mask", "type_ids"))


def supported(path: Path) -> bool:
    """Whether :func:`load` reads this folder exactly (else the teacher uses transformers)."""
    try:
        cfg = json.loads((path / "config.json").read_text())
    except (OSError, ValueError):
        return False
    same = all(cfg.get(k, v if k != "model_type" else None) == v for k, v in _SUPPORTED.items())
    files = (path / "model.safetensors").is_file() and (path / "tokenizer.json").is_file()
    return same and files and not cfg.get("is_decoder", False)


def load(path: Path, max_length: int) -> tuple[WordPieceTokenizer, BertEncoder] | None:
    """(tokenizer, encoder in eval mode) of a BERT folder, or None when :func:`supported` says no."""
    if not supported(path):
        return None
    from safetensors.torch import load_file

    cfg = json.loads((path / "config.json").read_text())
    encoder = BertEncoder(cfg)
    encoder.load_bert_weights(load_file(str(path / "model.safetensors")))
    limit = min(max_length, cfg["max_position_embeddings"])
    return WordPieceTokenizer(path, limit), encoder.eval()


def mean_pooled(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of the hidden states over the real tokens, ``[B, L, D]`` → ``[B, D]``."""
    m = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * m).sum(1) / m.sum(1).clamp(min=1e-9)


__all__ = ["BertEncoder", "WordPieceTokenizer", "load", "mean_pooled", "supported"]
