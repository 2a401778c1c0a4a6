"""The Q→A training objective on teacher embeddings: cosine to the reference answer plus an
in-batch (or all-answers) InfoNCE term, weighted by the ``[qa_loss]`` section."""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F


def embedding_loss(pred: torch.Tensor, target: torch.Tensor, settings: Any, candidates: torch.Tensor | None = None,
                   positions: torch.Tensor | None = None) -> torch.Tensor:
    """``cosine_weight`` · mean(1 − cos) + ``contrastive_weight`` · InfoNCE(``temperature``).

    InfoNCE candidates: the in-batch targets, or ``candidates [M, D]`` (e.g. all training answers)
    with the true ones at ``positions [B]``. Weights come from ``settings`` (a :class:`QALossConfig`).
    """
    loss = settings.cosine_weight * (1 - F.cosine_similarity(pred, target, dim=-1)).mean()
    if settings.contrastive_weight > 0 and (len(pred) > 1 or candidates is not None):
        cands = F.normalize(target if candidates is None else candidates, dim=-1)
        logits = F.normalize(pred, dim=-1) @ cands.T / settings.temperature  # [B, B] or [B, M]
        if candidates is None:
            labels = torch.arange(len(pred), device=pred.device)
        elif positions is None:
            raise ValueError("embedding_loss: `candidates` needs `positions` (the index of each true answer)")
        else:
            labels = positions
        loss = loss + settings.contrastive_weight * F.cross_entropy(logits, labels)
    return loss


class TrainTargets:
    """Every training answer embedding ``[n, D]``, carried by each training batch (``batch["train_targets"]``)
    for the InfoNCE candidates no single batch holds: all training answers (``negatives = "all"``), or the
    whole global batch's answers under data-parallel training. Not a tensor, so a batch's move to the
    device leaves it where it is: it goes to a device once (:meth:`all`) or a few rows at a time (:meth:`take`)."""

    def __init__(self, targets: torch.Tensor):
        self.targets = targets
        self._on: dict[torch.device, torch.Tensor] = {}

    def __len__(self) -> int:
        return len(self.targets)

    def all(self, device: torch.device) -> torch.Tensor:
        """All training answers on ``device`` (moved once)."""
        if device not in self._on:
            self._on[device] = self.targets.to(device)
        return self._on[device]

    def take(self, index: torch.Tensor, device: torch.device) -> torch.Tensor:
        """The training answers at ``index`` (e.g. a global batch's ``global_index``) on ``device``."""
        return self.targets[index.cpu()].to(device)
