"""The ``digits_self_classify`` objective: every alive cell names its digit (Randazzo et al., Distill 2020).

Training: a roll-out of ``steps_min``…``steps_max`` steps from the sample pool's states (fresh
entries from the digit), the loss (``l2``: the class logits to the one-hot target, or ``ce``)
averaged over the alive cells of every step; the final states are left in ``batch["final_state"]``
for the pool. Metrics after ``eval_steps`` steps from a fresh start: average cell accuracy (alive
cells pooled) and total agreement (images whose alive cells all name the right class); the test
figures add both curves, step by step. The settings are the ``[dataset]`` keys of :class:`DigitsConfig`.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from aa_core.run import Objective

from .classifier_config import ClassifyObjectiveConfig, DigitsConfig
from .dataset_settings import dataset_settings


def cell_loss(logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor, kind: str) -> torch.Tensor:
    """Mean over alive cells of L2-to-one-hot or cross-entropy; ``logits [B, N, K]``, ``targets [B]``, ``mask [B, N]``."""
    B, N, K = logits.shape
    if kind == "l2":
        per_cell = (logits - F.one_hot(targets, K).to(logits.dtype)[:, None, :]).pow(2).sum(-1)
    else:
        per_cell = F.cross_entropy(logits.reshape(B * N, K), targets.repeat_interleave(N), reduction="none").view(B, N)
    m = mask.to(logits.dtype)
    return (per_cell * m).sum() / m.sum().clamp_min(1)


def agreement_stats(logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor) -> tuple[int, int, int]:
    """(correct alive cells, alive cells, images whose alive cells all name the right class)."""
    right = (logits.argmax(-1) == targets[:, None]) & mask
    alive = mask.sum(1)
    return int(right.sum()), int(alive.sum()), int((right.sum(1) == alive).sum())


class SelfClassify(Objective):
    selection = ("val_accuracy", "max")
    metrics = ("val_accuracy", "val_agreement")

    def __init__(self, settings: DigitsConfig):
        self.settings = settings

    def training_loss(self, model: nn.Module, batch: dict[str, Any]) -> torch.Tensor:
        inputs, mask, targets = batch["inputs"], batch["mask"], batch["targets"]
        start = model.initial_state(inputs)  # type: ignore[operator]
        if "state" in batch:
            start = torch.where(batch["fresh"][:, None, None], start, batch["state"])
        T = int(torch.randint(self.settings.steps_min, self.settings.steps_max + 1, ()))
        frames, final = model(inputs, mask, steps=T, state=start, trajectory=True)
        batch["final_state"] = final.detach()
        return torch.stack([cell_loss(f, targets, mask, self.settings.loss) for f in frames]).mean()

    @torch.no_grad()
    def curves(self, model: nn.Module, data: Any, split: str, steps: int | None = None, batch_size: int = 512) -> dict[str, list[float]]:
        """Average cell accuracy and total agreement after every step 1…steps of ``split`` (validation or
        test), from a fresh start."""
        steps = steps or self.settings.eval_steps
        was = model.training
        model.eval()
        n = data.sizes()[split]
        right = np.zeros(steps)
        alive = 0
        agree = np.zeros(steps)
        for s in range(0, n, batch_size):
            b = data.batch(split, torch.arange(s, min(n, s + batch_size)))
            frames, _ = model(b["inputs"], b["mask"], steps=steps, trajectory=True)
            for t, f in enumerate(frames):
                r, a, g = agreement_stats(f, b["targets"], b["mask"])
                right[t] += r
                agree[t] += g
            alive += a
        model.train(was)
        return {"cell_accuracy": list(right / max(alive, 1)), "agreement": list(agree / max(n, 1))}

    def validation_metrics(self, model: nn.Module, data: Any) -> dict[str, float]:
        c = self.curves(model, data, "validation")
        return {"val_accuracy": c["cell_accuracy"][-1], "val_agreement": c["agreement"][-1]}

    def test_metrics(self, model: nn.Module, data: Any) -> dict[str, Any]:
        c = self.curves(model, data, "test")
        return {"test_cell_accuracy": c["cell_accuracy"][-1], "test_agreement": c["agreement"][-1], "curves": c}


def build(config: ClassifyObjectiveConfig, ctx: Any) -> SelfClassify:
    return SelfClassify(dataset_settings(ctx, DigitsConfig))
