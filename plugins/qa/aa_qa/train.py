"""Training a Q→A embedding model on in-memory pairs with the core trainer (:func:`train_model`: the
report's trained baselines and the k-fold study use it). The ``train`` task itself is the core's
with the ``qa_pairs`` dataset (:mod:`aa_qa.dataset`) and the ``qa`` objective (:mod:`aa_qa.objective`);
the preparation helpers live in :mod:`aa_qa.prep` and are re-exported here.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from aa_core.run import fit, new_run_id

from .config import QALossConfig
from .dataset import QAPairs
from .objective import QAObjective
from .prep import DEFAULT_DECODER, Embeddings, embed_data, from_training, load_data_once, make_decoder, predict, prepare

__all__ = ["DEFAULT_DECODER", "Embeddings", "embed_data", "from_training", "load_data_once", "make_decoder", "new_run_id", "predict",
           "prepare", "train_model"]


def train_model(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, xv: torch.Tensor, yv: torch.Tensor,
                val_answers: list[str], cfg: Any, *, loss: Any = None, progress: bool = True, desc: str = "train",
                save: Callable[..., None] | None = None, resume: Path | None = None) -> dict:
    """Train an embedding → embedding model in place on in-memory pairs with the core trainer and the ``qa``
    objective (``cfg``: a [train] config; ``loss``: the [qa_loss] config, default weights when None)."""
    sizes = {"train": len(x), "validation": len(xv), "test": 0}
    ds = QAPairs(_InMemory(sizes), None, tensors={"train": (x, y), "validation": (xv, yv)}, answers=val_answers)  # type: ignore[arg-type]
    objective = QAObjective(loss if loss is not None else QALossConfig(), cfg)
    return fit(model, ds, cfg, objective=objective, progress=progress, desc=desc, save=save, resume=resume)


class _InMemory:
    """The sizes and hash a :class:`QAPairs` needs for pairs that exist only as tensors."""

    def __init__(self, sizes: dict[str, int]):
        self._sizes = sizes
        self.hash = "in-memory"
        self.validation: list[Any] = []

    def sizes(self) -> dict[str, int]:
        return dict(self._sizes)
