"""The growth objectives ``voxel_growth`` and ``emoji_growth``: the loss and the metrics of each task.

Both are :class:`aa_nca.objective.GrowthObjective` (aa-nca: training on the sample pool, validation from the
seed, the test's grown / persisted / damaged / regrown stages); each adds its maths (:mod:`aa_ca.growth_metrics`):
voxel, the class cross-entropy + alive term per sample (``[dataset] loss``, ``alive_weight``) and 1 − IoU of
occupancy; emoji, the RGBA MSE (Distill's loss). Per-step logs (``[train] log_every``) add the voxel training
batch's 1 − IoU before the pool takes it back (``train_iou_error``: the published curve).
The seeds and stages of the test (``TEST_SEED``, ``STAGES``, …, aa-nca's) and the maths are re-exported here.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from aa_nca.config import GrowthObjectiveConfig
from aa_nca.growth import growth_model
from aa_nca.objective import PERSIST_SEED as PERSIST_SEED
from aa_nca.objective import REGROW_SEED as REGROW_SEED
from aa_nca.objective import STAGES as STAGES
from aa_nca.objective import TEST_SEED as TEST_SEED
from aa_nca.objective import GrowthObjective

from .dataset_settings import dataset_settings
from .growth_config import VoxelGrowthConfig
from .growth_metrics import class_accuracy, iou_error, rgba_losses, voxel_losses
from .growth_metrics import predicted as predicted


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


def build_voxel(config: GrowthObjectiveConfig, ctx: Any) -> VoxelGrowthObjective:
    return VoxelGrowthObjective(config, dataset_settings(ctx, VoxelGrowthConfig))


def build_emoji(config: GrowthObjectiveConfig, ctx: Any) -> EmojiGrowthObjective:
    return EmojiGrowthObjective(config)
