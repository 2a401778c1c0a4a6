"""The ``digits_classification`` objective: cross-entropy of the pipeline's class logits ``[B, 10]``;
loss and accuracy over a whole split for validation (selection: ``val_accuracy``) and test."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from aa_core.protocols import Dataset
from aa_core.run import Objective, batches


class DigitsClassification(Objective):
    selection = ("val_accuracy", "max")
    metrics = ("val_loss", "val_accuracy")

    def training_loss(self, model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return F.cross_entropy(model(batch["inputs"]), batch["targets"])

    def split_metrics(self, model: torch.nn.Module, data: Dataset, split: str) -> dict[str, float]:
        """Mean cross-entropy and accuracy on a whole split."""
        n, loss, correct = data.sizes()[split], 0.0, 0
        device = next(model.parameters()).device
        for batch in batches(data, split):
            logits, targets = model(batch["inputs"].to(device)), batch["targets"].to(device)
            loss += float(F.cross_entropy(logits, targets, reduction="sum"))
            correct += int((logits.argmax(1) == targets).sum())
        return {"loss": loss / max(n, 1), "accuracy": correct / max(n, 1)}


def build(config: object, ctx: object) -> DigitsClassification:
    return DigitsClassification()
