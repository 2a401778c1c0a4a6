"""The served checkpoints: their descriptions (read before binding, torch-free) and, once loaded
through the one restore path, their answers."""
from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Any

import attrs

from aa_core.checkpoint import read_metadata, resolve_checkpoint

NO_ABSTENTION = ("this checkpoint holds no usable calibrated threshold (saved before abstention existed, its model writes new text, "
                 "or it was calibrated on non-finite predictions): answers are never marked abstained by a threshold, only when the "
                 "prediction is not finite")


@attrs.define
class ServedModel:
    id: str
    path: Path  # the checkpoint folder itself (a run folder's best one)
    metadata: dict[str, Any]
    status: str = "loading"  # loading | ready | failed
    error: str | None = None
    warnings: list[str] = attrs.Factory(list)
    _parts: tuple[Any, Any, Any] | None = None  # (model, ctx, decoder)

    @property
    def checkpoint_hash(self) -> str:
        weights = self.metadata.get("weights")
        return str(weights.get("sha256", "")) if isinstance(weights, dict) else ""

    @property
    def version(self) -> str:
        return self.checkpoint_hash[:12]

    @property
    def threshold(self) -> float | None:
        from aa_qa.abstain import threshold

        return threshold(self.metadata)

    def describe(self) -> dict[str, Any]:
        """What /v1/models says of this model; NaN/inf values (a diverged run's metrics or threshold) become null."""
        from aa_qa.abstain import KEY
        from aa_qa.report import finite_only

        m = self.metadata
        arch = m.get("architecture") if isinstance(m.get("architecture"), dict) else None
        abstention = dict(m[KEY]) if isinstance(m.get(KEY), dict) else {"threshold": None}
        if self.threshold is None:
            abstention["threshold"] = None
            abstention["note"] = NO_ABSTENTION
        return finite_only({
            "id": self.id, "version": self.version, "status": self.status, "error": self.error,
            "architecture": arch.get("key") if arch else None,
            "components": {kind: f"{(m.get('spec') or {}).get(kind, {}).get('name')}" for kind in ("cell", "propagator", "adapter", "decoder", "pipeline")
                           if isinstance((m.get("spec") or {}).get(kind), dict)},
            "plugins": m.get("plugins") or {}, "checkpoint": str(self.path), "checkpoint_hash": self.checkpoint_hash,
            "model_hash": m.get("model_hash"), "data_hash": m.get("dataset_hash"), "data_sizes": m.get("data_sizes"),
            "params": m.get("params"), "created": m.get("created"), "metrics": m.get("metrics") or {},
            "abstention": abstention, "warnings": self.warnings,
        })

    def load(self) -> None:
        """Restore the model (in the model thread) and answer one question so the first request is not slow."""
        from aa_qa.ask import answer_details, restore_for_answers

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model, ctx, decoder = restore_for_answers(self.path)
        self.warnings = [str(w.message) for w in caught if issubclass(w.category, UserWarning)]
        tokenizer = getattr(ctx, "tokenizer", None)
        if getattr(tokenizer, "cache", None) is not None:
            tokenizer.cache = None  # type: ignore[union-attr]  # served questions are not written to the training embedding cache
        self._parts = (model, ctx, decoder)
        answer_details(model, ctx, decoder, ["warm-up question"], top_k=1)
        self.status = "ready"

    def picture(self, question: str) -> bytes:
        """PNG of what happens inside the lattice for ``question`` (``aa inspect``'s picture; runs in the model thread)."""
        import tempfile

        from aa_qa.ask import NONFINITE, decode_scored
        from aa_qa.lattice_view import check_size, picture, trace

        if self._parts is None:
            raise RuntimeError(f"model {self.id} is not loaded")
        model, ctx, decoder = self._parts
        check_size(model)
        tr = trace(model, ctx.tokenizer.encode([question]))
        texts, score = decode_scored(tr["prediction"], ctx, decoder)
        s = float(score[0])
        shown = f"{texts[0]}  (similarity {s:.3f})" if math.isfinite(s) else f"(no answer: {NONFINITE})"
        with tempfile.TemporaryDirectory(prefix="aa-serve-") as tmp:
            path = picture(model, tr, question, shown, Path(tmp) / "lattice.png")
            return path.read_bytes()

    def answer(self, questions: list[str], top_k: int) -> list:
        from aa_qa.ask import answer_details

        if self._parts is None:
            raise RuntimeError(f"model {self.id} is not loaded")
        model, ctx, decoder = self._parts
        return answer_details(model, ctx, decoder, questions, top_k=top_k, threshold=self.threshold)


class ModelPool:
    """The models in command-line order; the first is the default."""

    def __init__(self, checkpoints: list[tuple[str | None, Path]]):
        self.models: list[ServedModel] = []
        for name, folder in checkpoints:
            path = resolve_checkpoint(folder)
            meta = read_metadata(path)  # a missing or damaged checkpoint is a UserError before anything binds
            self.models.append(ServedModel(self._unique(name or self._default_name(Path(folder), path)), path, meta))

    @staticmethod
    def _default_name(given: Path, path: Path) -> str:
        return given.resolve().name if given.resolve() != path.resolve() else path.resolve().name

    def _unique(self, name: str) -> str:
        taken = {m.id for m in self.models}
        out, i = name, 2
        while out in taken:
            out, i = f"{name}-{i}", i + 1
        return out

    @property
    def ready(self) -> bool:
        return all(m.status == "ready" for m in self.models)

    def get(self, key: str | None) -> ServedModel | None:
        """The model named ``key``: its id, its version (a checkpoint-hash prefix of ≥ 6 characters) or ``id@version``."""
        if not key:
            return self.models[0]
        name, _, version = key.partition("@")
        for m in self.models:
            if m.id == key or (version and m.id == name and m.checkpoint_hash.startswith(version)):
                return m
        if len(key) >= 6:
            found = [m for m in self.models if m.checkpoint_hash.startswith(key)]
            if len(found) == 1:
                return found[0]
        return None
