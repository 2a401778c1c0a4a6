"""The ``mnist1d_consensus`` objective: a sequence's class is the consensus (the mean) of the cells' logits.

Training: cross-entropy of the consensus logits. Metrics on a split: accuracy of the consensus class
and its mean cross-entropy (``val_accuracy`` / ``val_loss``, ``test_accuracy`` / ``test_loss``);
``val_accuracy`` selects. Any pipeline whose output is per-cell logits ``[B, N, K]`` (or ``[B, K]``)
fits: the lattice classifier and the paper's MLP and CNN baselines alike.
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from aa_core.run import Objective, batches

from .classifier import consensus_logits
from .classifier_config import ClassifyObjectiveConfig


@torch.no_grad()
def consensus_accuracy(model: nn.Module, data: Any, split: str, batch_size: int = 500) -> dict[str, float]:
    """Accuracy and mean cross-entropy of the consensus class on ``split`` (unprefixed: ``accuracy``, ``loss``)."""
    was = model.training
    model.eval()
    n = data.sizes()[split]
    correct, loss = 0, 0.0
    for b in batches(data, split, batch_size):
        logits = consensus_logits(model(b["inputs"], b.get("mask")))
        correct += int((logits.argmax(-1) == b["targets"]).sum())
        loss += float(F.cross_entropy(logits, b["targets"], reduction="sum"))
    model.train(was)
    return {"accuracy": correct / max(n, 1), "loss": loss / max(n, 1)}


class ConsensusClassification(Objective):
    selection = ("val_accuracy", "max")
    metrics = ("val_accuracy", "val_loss")

    def training_loss(self, model: nn.Module, batch: dict[str, Any]) -> torch.Tensor:
        return F.cross_entropy(consensus_logits(model(batch["inputs"])), batch["targets"])

    def split_metrics(self, model: nn.Module, data: Any, split: str) -> dict[str, float]:
        return consensus_accuracy(model, data, split)


def build(config: ClassifyObjectiveConfig, ctx: Any) -> ConsensusClassification:
    return ConsensusClassification()
