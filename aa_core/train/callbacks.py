"""Callbacks: everything around the training loop (Lightning's Callback), and the core's own.

A callback sees the running :class:`~aa_core.train.engine.Loop` at fixed points (fit start, each
step's end, each round's end, an interrupt, fit end), may ask training to stop, and keeps JSON-able
state that is saved with every resumable checkpoint. The core's built-ins are callbacks like any
plugin's: progress lines, the heap trim, the sample pool's write-back, a wall-clock budget, the
per-step log and checkpoint saving.
"""
from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any, Literal

from . import heap


class Callback:
    """No-op base of a callback (the contract: :class:`aa_core.protocols.Callback`); override what you need.

    ``handles_interrupt``: the callback saves something at ``on_interrupt`` — the loop then catches
    SIGINT/SIGTERM and stops at the end of the current step instead of at once."""

    handles_interrupt = False

    def on_fit_start(self, loop: Any) -> None:
        pass

    def on_step_end(self, loop: Any, batch: dict[str, Any], loss: float) -> None:
        pass

    def on_round_end(self, loop: Any, metrics: dict[str, Any], improved: bool) -> None:
        pass

    def on_interrupt(self, loop: Any) -> None:
        pass

    def on_fit_end(self, loop: Any) -> None:
        pass

    def teardown(self, loop: Any) -> None:
        pass

    def should_stop(self, loop: Any) -> str | None:
        return None

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass


def show_progress(enabled: bool | str) -> bool:
    """Whether a progress bar is drawn: ``progress=True`` on a terminal (``"lines"`` never draws one)."""
    return enabled is True and sys.stderr.isatty()


def duration(seconds: float) -> str:
    """``"40 s"``, ``"12 min"`` or ``"2.3 h"``: a remaining-time estimate for a progress line."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min" if seconds < 5400 else f"{seconds / 3600:.1f} h"


class ProgressBar(Callback):
    """A bar on a terminal (``progress=True``), else one line per round with how long the rest takes at
    most at this sitting's rate (``"lines"``: always lines); ``False``: silent."""

    def __init__(self, progress: bool | Literal["lines"] = True, desc: str = "train"):
        self.progress, self.desc, self.bar = progress, desc, None

    def on_fit_start(self, loop: Any) -> None:
        from tqdm.auto import tqdm

        if not loop.is_main:  # one process of a launch reports
            self.progress = False
        self.sitting = time.perf_counter(), loop.steps_done
        self.bar = tqdm(total=loop.rounds.total, initial=loop.steps_done, desc=self.desc, disable=not show_progress(self.progress),
                        leave=False, dynamic_ncols=True)

    def on_step_end(self, loop: Any, batch: dict[str, Any], loss: float) -> None:
        assert self.bar is not None
        self.bar.update(1)
        p = loop.progress
        self.bar.set_postfix({loop.unit: p.epoch + 1, "loss": f"{p.run_loss / max(p.seen, 1):.4f}"}, refresh=False)

    def on_round_end(self, loop: Any, metrics: dict[str, Any], improved: bool) -> None:
        assert self.bar is not None
        self.bar.set_postfix({loop.unit: metrics["epoch"], "loss": f"{metrics['train_loss']:.4f}",
                              loop.metric: f"{metrics[loop.metric]:.4f}"}, refresh=True)
        if not self.progress or not self.bar.disable:
            return
        shown = ", ".join(f"{k} {v:.4f}" for k, v in metrics.items() if k.startswith("val_") and isinstance(v, float))
        now, steps = time.perf_counter(), loop.steps_done
        rate = (now - self.sitting[0]) / max(steps - self.sitting[1], 1)  # seconds per step (validation included)
        left = f"; ~{duration(rate * (loop.rounds.total - steps))} more at most" if steps < loop.rounds.total else ""
        print(f"{self.desc} {loop.unit} {metrics['epoch']}/{loop.rounds.count}: loss {metrics['train_loss']:.4f}, {shown} "
              f"({loop.elapsed():.0f} s{left})", flush=True)

    def teardown(self, loop: Any) -> None:
        if self.bar is not None:
            self.bar.close()


class HeapTrim(Callback):
    """Freed host memory back to the OS after slow steps (shapes that change from step to step fragment
    the C heap) and after each round (:mod:`aa_core.train.heap`)."""

    def on_step_end(self, loop: Any, batch: dict[str, Any], loss: float) -> None:
        if loop.last_step_s >= heap.SLOW_STEP_S:
            heap.release_freed_memory()

    def on_round_end(self, loop: Any, metrics: dict[str, Any], improved: bool) -> None:
        heap.release_freed_memory()


class PoolWriteBack(Callback):
    """A sample pool (:class:`~aa_core.protocols.SampledDataset`) takes back the batch the pipeline grew
    after every step (and damages it); its tensors are saved with the training state."""

    def __init__(self, pool: Any):
        self.pool = pool

    def on_step_end(self, loop: Any, batch: dict[str, Any], loss: float) -> None:
        self.pool.after_step(batch, loop.model)


class TimeBudget(Callback):
    """``[train] budget_s``: training ends at the first step after that many seconds (over every sitting
    of a resumed run); the round in progress is validated and the run finishes normally."""

    def __init__(self, budget_s: float):
        self.budget_s = budget_s

    def should_stop(self, loop: Any) -> str | None:
        spent = loop.elapsed()
        return f"the time budget train.budget_s = {self.budget_s:g} s is spent ({spent:.0f} s)" if spent >= self.budget_s else None


class StepLog(Callback):
    """``[train] log_every``: every N-th step's loss, learning rate and time, with the objective's
    ``step_metrics`` of the batch (before a sample pool takes it back). The rows are this callback's
    state, so a resumed run's log equals an uninterrupted one's; the train task writes them to
    ``runs/<id>/steps.jsonl``."""

    def __init__(self, every: int):
        self.every, self.rows = every, []  # type: ignore[var-annotated]

    def on_step_end(self, loop: Any, batch: dict[str, Any], loss: float) -> None:
        step = loop.steps_done
        if step % self.every:
            return
        from ..protocols import LoggedObjective

        row: dict[str, Any] = {"step": step, "loss": loss, "lr": loop.opt.param_groups[0]["lr"], "t": round(loop.elapsed(), 2)}
        if isinstance(loop.objective, LoggedObjective):
            row.update(loop.objective.step_metrics(loop.model, batch))
        self.rows.append(row)

    def state_dict(self) -> dict[str, Any]:
        return {"rows": self.rows}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.rows = list(state.get("rows", []))


class Checkpointing(Callback):
    """Saving with ``save(progress, kind, improved, opt, sched, gen)`` (e.g. :func:`~aa_core.train.round_saver`'s):
    ``kind = "epoch"`` after every round, ``"step"`` at an interrupt. Runs after every other callback,
    so the state it saves is theirs after the round."""

    handles_interrupt = True

    def __init__(self, save: Callable[..., Any]):
        self.save = save

    def on_round_end(self, loop: Any, metrics: dict[str, Any], improved: bool) -> None:
        if loop.is_main:
            loop.capture_callbacks()
            self.save(loop.progress, "epoch", improved, loop.opt, loop.sched, loop.gen)

    def on_interrupt(self, loop: Any) -> None:
        if loop.is_main:
            loop.capture_callbacks()
            self.save(loop.progress, "step", False, loop.opt, loop.sched, loop.gen)


def builtin(settings: Any, data: Any, progress: bool | Literal["lines"], desc: str) -> list[Callback]:
    """The core's callbacks for ``[train]`` settings and a dataset, in the order they run."""
    from ..protocols import SampledDataset

    out: list[Callback] = []
    if settings.log_every:
        out.append(StepLog(settings.log_every))  # first: it sees the batch before the pool takes it back
    if isinstance(data, SampledDataset):
        out.append(PoolWriteBack(data))
    out.append(HeapTrim())
    if settings.budget_s:
        out.append(TimeBudget(settings.budget_s))
    out.append(ProgressBar(progress, desc))
    return out


__all__ = ["Callback", "Checkpointing", "HeapTrim", "PoolWriteBack", "ProgressBar", "StepLog", "TimeBudget", "builtin", "duration",
           "show_progress"]
