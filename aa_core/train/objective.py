"""Objectives: the maths of a task (loss, metrics, selection, optimizers), apart from data and loop.

:class:`Objective` is a convenience base for ``objective`` components (the contract is
:class:`aa_core.protocols.Objective`): implement ``training_loss`` and ``split_metrics`` and the
``val_`` / ``test_`` metrics, AdamW and the spec's schedule come with it. :func:`objective_of` is
what the trainer trains with: the spec's objective, or — for a task written before objectives —
an adapter over the dataset's ``TaskObjective`` or the pipeline's ``TrainablePipeline`` methods,
with a DeprecationWarning.
"""
from __future__ import annotations

import math
import warnings
from collections.abc import Iterator
from typing import Any

import torch

from .._deprecated import REMOVE_IN
from .._errors import UserError
from ..protocols import Dataset, TaskObjective, TrainablePipeline
from ..protocols import Objective as ObjectiveProtocol


def default_optimizers(model: torch.nn.Module, train: Any, total_steps: int) -> tuple[torch.optim.Optimizer, Any]:
    """AdamW over the trainable parameters (``train.lr``, ``train.weight_decay``) and ``train.schedule``
    (``cosine`` to 0 over ``total_steps``, or ``constant``) as a per-step LambdaLR."""
    opt = torch.optim.AdamW([q for q in model.parameters() if q.requires_grad], lr=train.lr, weight_decay=train.weight_decay)
    total = max(int(total_steps), 1)
    if train.schedule == "cosine":
        return opt, torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, total) / total)))
    return opt, torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)


def batches(data: Dataset, split: str, size: int = 512) -> Iterator[dict[str, Any]]:
    """Every example of ``split`` in order, ``size`` at a time (what metrics over a whole split read)."""
    for index in torch.arange(data.sizes().get(split, 0)).split(size):
        yield data.batch(split, index)


class Objective:
    """Base class of an objective component: the metrics of a split once, prefixed for each use.

    Subclasses set ``selection`` and ``metrics`` and implement ``training_loss(model, batch)`` and
    ``split_metrics(model, data, split)`` (unprefixed names: ``{"accuracy": …, "loss": …}``), or
    override ``validation_metrics`` / ``test_metrics`` themselves; override
    ``configure_optimizers`` for another optimizer or schedule.
    """

    selection: tuple[str, str] = ("val_loss", "min")
    metrics: tuple[str, ...] = ("val_loss",)

    def training_loss(self, model: torch.nn.Module, batch: dict[str, Any]) -> torch.Tensor:
        raise NotImplementedError(f"{type(self).__name__}.training_loss(model, batch)")

    def split_metrics(self, model: torch.nn.Module, data: Dataset, split: str) -> dict[str, float]:
        raise NotImplementedError(f"{type(self).__name__}.split_metrics(model, data, split) (or validation_metrics and test_metrics)")

    @torch.no_grad()
    def validation_metrics(self, model: torch.nn.Module, data: Dataset) -> dict[str, float]:
        return {f"val_{k}": v for k, v in self.split_metrics(model, data, "validation").items()}

    @torch.no_grad()
    def test_metrics(self, model: torch.nn.Module, data: Dataset) -> dict[str, float]:
        return {f"test_{k}": v for k, v in self.split_metrics(model, data, "test").items()}

    def configure_optimizers(self, model: torch.nn.Module, train: Any, total_steps: int) -> tuple[torch.optim.Optimizer, Any]:
        return default_optimizers(model, train, total_steps)


class LegacyObjective(Objective):
    """A task written before objectives: the dataset's ``TaskObjective`` methods, else the pipeline's
    ``TrainablePipeline`` methods (``settings`` is the ``[train]`` config they were given)."""

    def __init__(self, model: torch.nn.Module, dataset: Any, settings: Any):
        self.model, self.dataset, self.settings = model, dataset, settings
        self.on_dataset = isinstance(dataset, TaskObjective)
        chosen = getattr(dataset, "default_selection", None)  # the old, undeclared form of `selection`
        metric = chosen if isinstance(chosen, str) else "val_loss"
        self.selection = (metric, "min" if metric.endswith(("loss", "error")) else "max")
        self.metrics = ()  # undeclared: checked when the first round reports them

    def training_loss(self, model: torch.nn.Module, batch: dict[str, Any]) -> torch.Tensor:
        if self.on_dataset:
            return self.dataset.training_loss(model, batch)
        return model.training_loss(batch, self.settings)  # type: ignore[operator]

    def validation_metrics(self, model: torch.nn.Module, data: Dataset) -> dict[str, float]:
        if self.on_dataset:
            return self.dataset.validation_metrics(model)
        return model.validation_metrics(data, self.settings)  # type: ignore[operator]

    def test_metrics(self, model: torch.nn.Module, data: Dataset) -> dict[str, float]:
        own = getattr(self.dataset, "test_metrics", None)
        if callable(own):
            return own(model)
        raise UserError(f"{type(self.dataset).__name__} reports no test metrics: give the task an objective component "
                        "(aa_core.run.Objective, test_metrics(model, data)) to run the test task")


def objective_of(model: torch.nn.Module, dataset: Any, settings: Any, objective: Any = None) -> Any:
    """The objective to train with: ``objective`` (the spec's), else the older form on the dataset or the
    pipeline (DeprecationWarning), else a UserError saying what is missing."""
    if objective is not None:
        if not isinstance(objective, ObjectiveProtocol):
            missing = [m for m in ("training_loss", "validation_metrics", "test_metrics", "configure_optimizers", "selection", "metrics")
                       if not hasattr(objective, m)]
            raise UserError(f"{type(objective).__name__} is not an objective (aa_core.protocols.Objective): missing {', '.join(missing)}")
        return objective
    if isinstance(dataset, TaskObjective) or isinstance(model, TrainablePipeline):
        where = f"the dataset {type(dataset).__name__}" if isinstance(dataset, TaskObjective) else f"the pipeline {type(model).__name__}"
        warnings.warn(f"{where} carries the task's loss and metrics (TaskObjective / TrainablePipeline), which is deprecated and "
                      f"will stop training in aa-core {REMOVE_IN}; move them to an objective component (aa_core.run.Objective) "
                      "and name it in the dataset's Component(defaults={'objective': ...}) or the spec's [objective]",
                      DeprecationWarning, stacklevel=3)
        return LegacyObjective(model, dataset, settings)
    raise UserError(f"{type(model).__name__} cannot be trained on {type(dataset).__name__}: the spec has no objective. Name one in "
                    "[objective] (`aa plugins` lists them), or give the dataset's component a default objective")


def selection(settings: Any, objective: Any) -> tuple[str, float]:
    """The metric that picks the best round (``train.select_on``, else the objective's) and +1 (higher is
    better) or −1 (``train.mode``; ``auto`` follows the objective's mode for its own metric)."""
    metric = settings.select_on or objective.selection[0]
    return metric, settings.direction(metric, tuple(objective.selection))


def check_selection(settings: Any, objective: Any, where: str = "train.select_on") -> None:
    """``train.select_on`` names a metric the objective declares (when it declares its metrics)."""
    metric = settings.select_on
    if metric and objective.metrics and metric not in objective.metrics:
        raise UserError(f"{where} = {metric!r} is not a metric this task reports; it reports: {', '.join(objective.metrics)}. "
                        "Set it to one of them")


__all__ = ["LegacyObjective", "Objective", "batches", "check_selection", "default_optimizers", "objective_of", "selection"]
