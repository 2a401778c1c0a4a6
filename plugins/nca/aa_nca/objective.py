"""The base of growth objectives: training on a sample pool, validation from the seed, and the test of a
grown pattern (grown, persisted, damaged, regrown).

Training grows the batch's pool states for a random T (``[pipeline] steps``) and scores each sample
(:meth:`GrowthObjective.sample_losses`); the grown states and per-sample losses are left in
``batch["final_state"]`` / ``batch["sample_loss"]`` for the sample pool
(:meth:`aa_nca.growth.GrowthDataset.after_step`). Validation grows the seed with training's fire masks on
a fixed random stream. The test grows :attr:`rollouts <aa_nca.config.GrowthObjectiveConfig.rollouts>`
patterns with fire masks validation never drew and measures them grown (validation's figures, ``test_…``,
and ``test_grown_…``), after ``persist_steps`` more steps (``test_persisted_…``), damaged by a ball
(``test_damaged_…``) and regrown (``test_regrown_…``).

A task subclasses :class:`GrowthObjective` with its maths (aa-ca-suite's ``voxel_growth``: class
cross-entropy and 1 − IoU; ``emoji_growth``: RGBA MSE) and registers it as an ``objective`` component.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import torch
from torch import nn

from aa_core.run import Objective

from .config import GrowthObjectiveConfig
from .growth import growth_model

TEST_SEED = 4321  # test's fire masks: a growth task has one target, so "held out" means masks validation never drew
PERSIST_SEED = 7
REGROW_SEED = 99
STAGES = ("grown", "persisted", "damaged", "regrown")


class GrowthObjective(Objective, ABC):
    """What growth tasks share; a subclass scores states (:meth:`sample_losses`, :meth:`scores`,
    :meth:`per_sample`); the test damages the pattern where the dataset says (:meth:`damage_site`). ``data`` is a
    :class:`~aa_nca.growth.GrowthDataset` (its ``target``, ``seed``, ``grow_from_seed``, ``damage_site``, ``damage_ball``)."""

    figure = "loss"  # the per-sample figure of the test stages: test_grown_<figure>, …

    def __init__(self, config: GrowthObjectiveConfig):
        self.config = config

    @abstractmethod
    def sample_losses(self, final: torch.Tensor, targets: torch.Tensor, model: nn.Module) -> torch.Tensor:
        """Per-sample loss ``[B]`` of grown states to the batch's ``targets``."""

    @abstractmethod
    def scores(self, final: torch.Tensor, data: Any) -> dict[str, float]:
        """Validation's figures of grown states, unprefixed (``val_loss`` is added after them)."""

    @abstractmethod
    def per_sample(self, final: torch.Tensor, data: Any) -> torch.Tensor:
        """The test stages' figure per sample ``[B]``."""

    def damage_site(self, data: Any) -> tuple[torch.Tensor, float]:
        """(centre ``[3]``, radius in cells) of the test's damage ball: the dataset's
        (:meth:`aa_nca.growth.GrowthDataset.damage_site`, the place ``aa inspect`` damages too)."""
        return data.damage_site()

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
