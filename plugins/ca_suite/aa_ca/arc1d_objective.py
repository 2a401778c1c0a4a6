"""The ``arc1d_rows`` objective: every cell of a 1D-ARC row outputs its colour (CAX, Table 2).

Training: cross-entropy of each cell's colour logits over the cells of the row (``targets`` is −100
beyond it). Metrics: ``accuracy`` = exact match of whole rows (the published figure),
``cell_accuracy`` = the share of the rows' cells right; ``val_cell_accuracy`` selects (finer than
exact match on a few validation problems). The test figures name the exact match
``test_exact_match`` and add the test problems and every test pair with its prediction.
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from aa_core.run import Objective

from .arc1d_task import COLOURS, IGNORE
from .classifier_config import ClassifyObjectiveConfig


def row_logits(model: nn.Module, batch: dict[str, Any]) -> torch.Tensor:
    """Colour logits ``[B, L, 10]`` of the batch's rows (the pipeline's read cells cut to the row length L)."""
    return model(batch["inputs"], batch["mask"])[:, : batch["inputs"].shape[1]]


class RowColours(Objective):
    selection = ("val_cell_accuracy", "max")
    metrics = ("val_accuracy", "val_cell_accuracy")

    def training_loss(self, model: nn.Module, batch: dict[str, Any]) -> torch.Tensor:
        logits = row_logits(model, batch)
        return F.cross_entropy(logits.reshape(-1, COLOURS), batch["targets"].reshape(-1), ignore_index=IGNORE)

    @torch.no_grad()
    def score(self, model: nn.Module, data: Any, split: str) -> tuple[float, float, torch.Tensor, torch.Tensor]:
        """(exact-match share, cell accuracy, predicted colours ``[n, L]``, exact per row ``[n]``) of a whole split."""
        was = model.training
        model.eval()
        b = data.batch(split, torch.arange(data.sizes()[split]))
        pred = row_logits(model, b).argmax(-1)
        model.train(was)
        inside = b["targets"] != IGNORE
        right = (pred == b["targets"]) | ~inside
        exact = right.all(1)
        cells = float(((pred == b["targets"]) & inside).sum()) / max(int(inside.sum()), 1)
        return float(exact.float().mean()) if len(exact) else 0.0, cells, pred, exact

    def validation_metrics(self, model: nn.Module, data: Any) -> dict[str, float]:
        exact, cells, _, _ = self.score(model, data, "validation")
        return {"val_accuracy": exact, "val_cell_accuracy": cells}

    def test_metrics(self, model: nn.Module, data: Any) -> dict[str, Any]:
        exact, cells, pred, ok = self.score(model, data, "test")
        examples = []
        for i, p in enumerate(data.problems["test"]):
            a, b = p["pairs"][-1]
            examples.append({"problem": p["name"], "input": a, "target": b, "prediction": pred[i, : len(a)].tolist(), "exact": bool(ok[i])})
        return {"test_exact_match": exact, "test_cell_accuracy": cells, "problems": [p["name"] for p in data.problems["test"]],
                "examples": examples}


def build(config: ClassifyObjectiveConfig, ctx: Any) -> RowColours:
    return RowColours()
