"""The growth objectives ``voxel_growth`` and ``emoji_growth``: loss, metrics and the test of a grown pattern.

Training grows the batch's pool states for a random T (``[pipeline] steps``) and scores each sample
(voxel: :func:`voxel_losses`; emoji: :func:`rgba_losses`); the grown states and per-sample losses are
left in ``batch["final_state"]`` / ``batch["sample_loss"]`` for the sample pool. Validation grows the
seed with training's fire masks on a fixed random stream. The test grows :attr:`rollouts
<aa_ca.growth_config.GrowthObjectiveConfig.rollouts>` patterns with fire masks validation never drew
and measures them grown (validation's figures, ``test_…``, and ``test_grown_…``), after
``persist_steps`` more steps (``test_persisted_…``), damaged by a ball (``test_damaged_…``) and
regrown (``test_regrown_…``). Per-step logs (``[train] log_every``) add the voxel training batch's
1 − IoU before the pool takes it back (``train_iou_error``: the published curve).
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from aa_core.run import Objective

from .dataset_settings import dataset_settings
from .growth import growth_model
from .growth_config import GrowthObjectiveConfig, VoxelGrowthConfig

TEST_SEED = 4321  # test's fire masks: a growth task has one target, so "held out" means masks validation never drew
PERSIST_SEED = 7
REGROW_SEED = 99
STAGES = ("grown", "persisted", "damaged", "regrown")


# ---- the maths, on states [B, N, C] -----------------------------------------------------------------
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


# ---- the objectives ----------------------------------------------------------------------------------
class GrowthObjective(Objective):
    """What both growth tasks share; a subclass scores states (:meth:`sample_losses`, :meth:`scores`,
    :meth:`per_sample`) and says where the test damages the pattern (:meth:`damage_site`)."""

    figure = "loss"  # the per-sample figure of the test stages: test_grown_<figure>, …

    def __init__(self, config: GrowthObjectiveConfig):
        self.config = config

    def sample_losses(self, final: torch.Tensor, targets: torch.Tensor, model: nn.Module) -> torch.Tensor:
        """Per-sample loss ``[B]`` of grown states to the batch's ``targets``."""
        raise NotImplementedError

    def scores(self, final: torch.Tensor, data: Any) -> dict[str, float]:
        """Validation's figures of grown states, unprefixed (``val_loss`` is added after them)."""
        raise NotImplementedError

    def per_sample(self, final: torch.Tensor, data: Any) -> torch.Tensor:
        """The test stages' figure per sample ``[B]``."""
        raise NotImplementedError

    def damage_site(self, data: Any) -> tuple[torch.Tensor, float]:
        """(centre ``[3]``, radius in cells) of the test's damage ball."""
        raise NotImplementedError

    def _target(self, data: Any, like: torch.Tensor) -> torch.Tensor:
        return data.target.unsqueeze(0).to(like)

    def training_loss(self, model: nn.Module, batch: dict[str, Any]) -> torch.Tensor:
        g = growth_model(model)
        final = g.grow(batch["inputs"], g.sample_steps())
        losses = self.sample_losses(final, batch["targets"], g)
        batch["final_state"] = final.detach()
        batch["sample_loss"] = losses.detach()
        return losses.mean()

    def validation_metrics(self, model: nn.Module, data: Any) -> dict[str, float]:
        final = data.grow_from_seed(model)
        out = {f"val_{k}": v for k, v in self.scores(final, data).items()}
        out["val_loss"] = float(self.sample_losses(final, self._target(data, final), growth_model(model)).mean())
        return out

    @torch.no_grad()
    def trial(self, model: nn.Module, data: Any) -> dict[str, torch.Tensor]:
        """The test's states ``[rollouts, N, C]``: grown from the seed (fire masks from :data:`TEST_SEED`),
        persisted ``persist_steps`` more steps, damaged, and regrown ``regrow_steps`` steps."""
        cfg = self.config
        grown = data.grow_from_seed(model, batch=cfg.rollouts, seed=TEST_SEED)
        persisted = data.grow_from_seed(model, cfg.persist_steps, start=grown, seed=PERSIST_SEED)
        centre, radius = self.damage_site(data)
        damaged = data.damage_ball(grown, centre, radius)
        regrown = data.grow_from_seed(model, cfg.regrow_steps or growth_model(model).eval_steps, start=damaged, seed=REGROW_SEED)
        return {"grown": grown, "persisted": persisted, "damaged": damaged, "regrown": regrown}

    def test_metrics(self, model: nn.Module, data: Any) -> dict[str, float]:
        states = self.trial(model, data)
        out = {f"test_{k}": v for k, v in self.scores(states["grown"], data).items()}
        for stage in STAGES:
            out[f"test_{stage}_{self.figure}"] = float(self.per_sample(states[stage], data).mean())
        return out


class VoxelGrowthObjective(GrowthObjective):
    """``voxel_growth``: class cross-entropy + alive term per sample (``[dataset] loss``, ``alive_weight``);
    1 − IoU of occupancy (selects, lower is better) and class accuracy on the structure's cells."""

    selection = ("val_iou_error", "min")
    metrics = ("val_iou_error", "val_class_accuracy", "val_loss")
    figure = "iou_error"

    def __init__(self, config: GrowthObjectiveConfig, settings: VoxelGrowthConfig):
        super().__init__(config)
        self.kind, self.alive_weight, self.hidden = settings.loss, settings.alive_weight, settings.hidden_channels

    def classes(self, model: nn.Module) -> int:
        """K of the state's layout (K class logits, alive, ``[dataset] hidden_channels`` hidden; the dataset's
        ``setup`` checks the cell's width against it)."""
        return int(growth_model(model).channels) - 1 - self.hidden

    def sample_losses(self, final: torch.Tensor, targets: torch.Tensor, model: nn.Module) -> torch.Tensor:
        return voxel_losses(final, targets[..., 0].long(), self.classes(model), self.kind, self.alive_weight)

    def scores(self, final: torch.Tensor, data: Any) -> dict[str, float]:
        K = data.num_classes
        return {"iou_error": float(iou_error(final, data.occupied, K).mean()),
                "class_accuracy": class_accuracy(final, data.target[:, 0].long(), K)}

    def per_sample(self, final: torch.Tensor, data: Any) -> torch.Tensor:
        return iou_error(final, data.occupied, data.num_classes)

    def damage_site(self, data: Any) -> tuple[torch.Tensor, float]:
        """A ball through the middle of the structure: its cells' centroid, radius 0.3 × the smallest side."""
        return data.occupied.view(data.shape).nonzero().float().mean(0).round(), 0.3 * min(data.shape)

    def step_metrics(self, model: nn.Module, batch: dict[str, Any]) -> dict[str, float]:
        """1 − IoU of the training batch as grown, before the pool reseeds and damages it."""
        occupied = batch["targets"][..., 0] != 0
        return {"train_iou_error": float(iou_error(batch["final_state"], occupied, self.classes(model)).mean())}


class EmojiGrowthObjective(GrowthObjective):
    """``emoji_growth``: MSE of the state's RGBA to the target (``val_mse``; ``val_loss``, the same figure, selects)."""

    selection = ("val_loss", "min")
    metrics = ("val_mse", "val_loss")
    figure = "mse"

    def sample_losses(self, final: torch.Tensor, targets: torch.Tensor, model: nn.Module) -> torch.Tensor:
        return rgba_losses(final, targets)

    def scores(self, final: torch.Tensor, data: Any) -> dict[str, float]:
        return {"mse": float(self.per_sample(final, data).mean())}

    def per_sample(self, final: torch.Tensor, data: Any) -> torch.Tensor:
        return rgba_losses(final, self._target(data, final))

    def damage_site(self, data: Any) -> tuple[torch.Tensor, float]:
        """A disk off the centre (an eighth of the grid right and up: 6 cells on 48²), radius a quarter of the grid."""
        G = data.shape[0]
        return torch.tensor([G / 2 + G / 8, G / 2 - G / 8, 0.0]), 0.25 * G


def build_voxel(config: GrowthObjectiveConfig, ctx: Any) -> VoxelGrowthObjective:
    return VoxelGrowthObjective(config, dataset_settings(ctx, VoxelGrowthConfig))


def build_emoji(config: GrowthObjectiveConfig, ctx: Any) -> EmojiGrowthObjective:
    return EmojiGrowthObjective(config)
