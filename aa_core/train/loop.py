"""``fit``: the training loop for any task — a model, a dataset, an objective and ``[train]`` settings.

The objective owns the maths (:mod:`.objective`), callbacks everything around the loop
(:mod:`.callbacks`: progress, heap trim, pool write-back, budget, step log, checkpoints), and
:class:`~aa_core.train.engine.Loop` the state and each step. Seeded and deterministic; a run
resumed from a checkpoint's training state equals an uninterrupted one.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

import torch

from . import callbacks as cb
from .callbacks import show_progress
from .engine import Loop
from .objective import objective_of, selection

Saver = Callable[..., None]


def fit(model: torch.nn.Module, dataset: Any, cfg: Any, *, objective: Any = None, callbacks: Sequence[Any] = (),
        progress: bool | Literal["lines"] = True, desc: str = "train", save: Saver | None = None,
        resume: Path | None = None) -> dict[str, Any]:
    """Train ``model`` in place on ``dataset`` with ``objective``; the best round's weights are restored at the end.

    ``callbacks`` run after the core's own (:func:`aa_core.train.callbacks.builtin`: step log, pool
    write-back, heap trim, budget, progress). ``save(progress, kind, improved, opt, sched, gen)`` is
    called after every round (``kind = "epoch"``) and, on SIGINT/SIGTERM, after the current step
    (``"step"``) before :class:`RunInterrupted` is raised. ``resume``: a checkpoint folder with
    training state. ``progress``: ``True`` draws a bar on a terminal and prints a line per round
    elsewhere; ``"lines"`` always prints the lines; ``False`` neither. Without ``objective`` the older
    task forms (``TaskObjective`` on the dataset, ``TrainablePipeline``) are trained, with a warning.
    Returns ``{"history", "best_epoch", "best", "selected", "mode", "time_s", "stopped_early",
    "stop_reason", "skipped_batches", "steps"}``.
    """
    everything = [*cb.builtin(cfg, dataset, progress, desc), *callbacks, *([cb.Checkpointing(save)] if save else [])]
    loop = Loop(model, dataset, cfg, objective_of(model, dataset, cfg, objective), everything, resume)
    try:
        loop.emit("on_fit_start")
        for r in loop.round_indices():
            for b in loop.steps(r):
                batch, loss = loop.train_step(r, b)
                loop.emit("on_step_end", batch, loss)
                if loop.interrupted_mid_round(r):
                    raise loop.interrupt(r)
            metrics, improved = loop.validate(r)
            loop.emit("on_round_end", metrics, improved)
            if loop.finished():
                break
        result = loop.result()
        loop.emit("on_fit_end")
        return result
    finally:
        loop.close()  # callbacks' teardown, however training ended


def objective(model: torch.nn.Module, dataset: Any, cfg: Any) -> tuple[Callable[..., Any], Callable[[], dict[str, float]]]:
    """Deprecated: the task's (loss, validation) pair; use :func:`aa_core.train.objective.objective_of`."""
    from .._deprecated import warn_moved

    warn_moved("aa_core.train.loop.objective", "aa_core.run.objective_of (an Objective's training_loss and validation_metrics)")
    obj = objective_of(model, dataset, cfg)
    return obj.training_loss, lambda: obj.validation_metrics(model, dataset)


__all__ = ["fit", "objective", "selection", "show_progress"]
