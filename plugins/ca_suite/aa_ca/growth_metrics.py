"""The maths of the two growth tasks, on states ``[B, N, C]``: the voxel structure's class cross-entropy, alive
term, 1 − IoU and class accuracy (:mod:`aa_ca.voxel`), and the emoji's RGBA MSE (:mod:`aa_ca.emoji`). The
datasets score predictions with them, the objectives (:mod:`aa_ca.growth_objectives`) train and test with them.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def rgba_losses(final: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Per-sample MSE ``[B]`` of the state's RGBA to the target ``[B, N, 4]`` (Distill's loss)."""
    return ((final[..., :4] - targets) ** 2).mean(dim=(1, 2))


def predicted(final: torch.Tensor, classes: int) -> torch.Tensor:
    """Class per cell ``[B, N]`` (0 = air; a dead cell's zero logits read as air)."""
    return final[..., :classes].argmax(-1)


def iou_error(final: torch.Tensor, occupied: torch.Tensor, classes: int) -> torch.Tensor:
    """1 − IoU of occupancy per sample ``[B]``; ``occupied`` ``[N]`` or ``[B, N]``."""
    pred = predicted(final, classes) != 0
    occ = occupied.to(pred.device)
    occ = occ.unsqueeze(0) if occ.dim() == 1 else occ
    inter = (pred & occ).sum(1).float()
    union = (pred | occ).sum(1).float().clamp_min(1)
    return 1 - inter / union


def class_accuracy(final: torch.Tensor, labels: torch.Tensor, classes: int) -> float:
    """The share of the target's occupied cells (``labels [N]`` ≠ 0) whose class is right, over the batch."""
    pred = predicted(final, classes)
    labels = labels.to(pred.device)
    occ = labels != 0
    return float((pred[:, occ] == labels[occ]).float().mean())


def voxel_losses(final: torch.Tensor, labels: torch.Tensor, classes: int, kind: str = "balanced", alive_weight: float = 1.0) -> torch.Tensor:
    """Per-sample loss ``[B]`` of grown states to class labels ``[B, N]`` (see :mod:`aa_ca.voxel`): the class
    cross-entropy (``balanced``: half over the structure's cells, half over the air; ``ce_alive``: the mean)
    plus ``alive_weight`` · MSE of the alive channel (``classes``) to occupancy."""
    ce = F.cross_entropy(final[..., :classes].transpose(1, 2), labels, reduction="none")  # [B, N]
    occ = (labels != 0).to(final.dtype)
    alive = F.mse_loss(final[..., classes], occ, reduction="none").mean(1)
    if kind == "balanced":
        structure = (ce * occ).sum(1) / occ.sum(1).clamp_min(1)
        air = (ce * (1 - occ)).sum(1) / (1 - occ).sum(1).clamp_min(1)
        return 0.5 * structure + 0.5 * air + alive_weight * alive
    return ce.mean(1) + alive_weight * alive
