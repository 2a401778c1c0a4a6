"""The ``phrase_bank`` decoder: an embedding → the closest whole phrase of a fixed bank.

The bank holds L2-normalised embeddings ``[M, D]`` of whole texts (by default the training
answers: ``fit(texts, embeddings)``). ``decode([B, D])`` returns the cosine top-1 text of
each row, optionally after re-ranking the top-k by train-mean-centred cosine. A bank that
contains test answers must be fitted with ``oracle=True`` so reports label it "oracle".
"""
from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from pathlib import Path

import torch
import torch.nn.functional as F

from aa_core.plugin import UserError

from .config import PhraseBankConfig


def read_phrases(path: str | Path) -> list[str]:
    """One phrase a line; lines that are JSON objects contribute their "answer" (first if a list)."""
    p = Path(path)
    if not p.is_file():
        raise UserError(f"decoder.phrases: file not found: {p} (give a text file with one phrase a line)")
    out = []
    for line in p.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                a = json.loads(line).get("answer")
            except (json.JSONDecodeError, AttributeError):
                a = line
            line = (a[0] if isinstance(a, list) and a else a) if a else ""
        if isinstance(line, str) and line.strip():
            out.append(line.strip())
    if not out:
        raise UserError(f"decoder.phrases: {p} holds no phrases")
    return out


class PhraseBank:
    """Retrieval decoder over whole phrases (not a generator)."""

    def __init__(self, config: PhraseBankConfig, tokenizer=None):
        self.config = config
        self.tokenizer = tokenizer  # used only to embed a phrases file
        self.texts: list[str] = []
        self.embeddings = torch.zeros(0, 0)  # [M, D], unit rows
        self.mean = torch.zeros(0)  # [D]
        self.oracle = False
        self._cache: OrderedDict[bytes, int] = OrderedDict()

    def __len__(self) -> int:
        return len(self.texts)

    def fit(self, texts: list[str], embeddings: torch.Tensor, *, oracle: bool = False) -> PhraseBank:
        """Fill the bank; duplicate texts are kept once. ``embeddings``: ``[M, D]``."""
        if len(texts) != embeddings.shape[0]:
            raise ValueError(f"{len(texts)} texts but {embeddings.shape[0]} embeddings")
        first: dict[str, int] = {}
        for i, t in enumerate(texts):
            first.setdefault(t, i)
        idx = torch.tensor(sorted(first.values()), dtype=torch.long)
        self.texts = [texts[i] for i in idx.tolist()]
        self.embeddings = F.normalize(embeddings.detach().float().index_select(0, idx), dim=-1)
        self.mean = self.embeddings.mean(0)
        self.oracle = oracle
        self._cache.clear()
        return self

    def fit_from_file(self, tokenizer=None) -> PhraseBank:
        """Fill the bank from ``config.phrases``, embedding them with the tokenizer (the teacher)."""
        tok = tokenizer or self.tokenizer
        if tok is None:
            raise UserError("decoder.phrases needs a teacher tokenizer to embed the phrases")
        if self.config.phrases is None:
            raise UserError("decoder.phrases is not set: give the file of phrases to fill the bank from")
        texts = read_phrases(self.config.phrases)
        return self.fit(texts, tok.encode(texts))

    def _require(self, dim: int) -> None:
        if not self.texts:
            if self.config.phrases:
                self.fit_from_file()
            else:
                raise UserError("the phrase bank is empty: fit it on the training answers (the train task does) or set decoder.phrases")
        if dim != self.embeddings.shape[1]:
            raise UserError(f"phrase bank holds {self.embeddings.shape[1]}-d embeddings, got {dim}-d outputs")

    @torch.no_grad()
    def search(self, outputs: torch.Tensor, k: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``[B, D]`` → (indices ``[B, k]``, cosines ``[B, k]``), best first (after re-ranking)."""
        self._require(outputs.shape[-1])
        k = min(k or self.config.top_k, len(self.texts))
        q = F.normalize(outputs.detach().float(), dim=-1)
        scores = q @ self.embeddings.T  # [B, M]
        top_s, top_i = scores.topk(k, dim=-1)
        if self.config.rerank == "centred" and k > 1:
            cand = self.embeddings[top_i] - self.mean  # [B, k, D]
            c = F.cosine_similarity(cand, (q - self.mean).unsqueeze(1), dim=-1)  # [B, k]
            order = c.argsort(dim=-1, descending=True)
            top_i, top_s = top_i.gather(1, order), top_s.gather(1, order)
        return top_i, top_s

    def indices(self, outputs: torch.Tensor) -> list[int]:
        """Bank index of the decoded phrase of each row, through an LRU cache keyed by the row's bytes."""
        out: list[int | None] = []
        todo = []
        rows = outputs.detach().float().cpu()
        keys = [hashlib.blake2b(r.numpy().tobytes(), digest_size=16).digest() for r in rows]
        for j, key in enumerate(keys):
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
            else:
                todo.append(j)
            out.append(hit)
        if todo:
            idx, _ = self.search(rows[todo])
            for j, i in zip(todo, idx[:, 0].tolist()):
                out[j] = i
                self._cache[keys[j]] = i
                if len(self._cache) > self.config.cache_size:
                    self._cache.popitem(last=False)
        assert all(i is not None for i in out)  # cached or searched above
        return [int(i) for i in out]  # type: ignore[arg-type]  # narrowed by the assert (mypy cannot see through all())

    def decode(self, outputs: torch.Tensor) -> list[str]:
        """``[B, D]`` → the best whole phrase for each row."""
        if outputs.ndim != 2:
            raise ValueError(f"phrase_bank decodes [B, D] embeddings, got shape {tuple(outputs.shape)}")
        if outputs.shape[0] == 0:
            return []
        return [self.texts[i] for i in self.indices(outputs)]

    # --- persistence (stored beside a checkpoint) ---
    def to_extra(self) -> tuple[dict, dict[str, torch.Tensor]]:
        return {"texts": self.texts, "oracle": self.oracle}, {"embeddings": self.embeddings.contiguous()}

    def load_extra(self, extra_json: dict, tensors: dict[str, torch.Tensor]) -> PhraseBank:
        """Restore a bank saved by :meth:`to_extra` exactly (no re-normalisation)."""
        texts, emb = list(extra_json["texts"]), tensors["embeddings"].float()
        if len(texts) != emb.shape[0]:
            raise UserError(f"stored phrase bank is inconsistent: {len(texts)} texts, {emb.shape[0]} embeddings")
        self.texts, self.embeddings, self.mean = texts, emb, emb.mean(0)
        self.oracle = bool(extra_json.get("oracle", False))
        self._cache.clear()
        return self


def build(config: PhraseBankConfig, ctx) -> PhraseBank:
    tok = ctx.tokenizer if ctx is not None and hasattr(ctx, "has") and ctx.has("tokenizer") else None
    return PhraseBank(config, tok)
