"""The training loop's state and its steps: what :func:`~aa_core.train.fit` drives and callbacks see.

A :class:`Loop` holds one training run in progress — model, dataset, objective, ``[train]``
settings, optimizer and schedule (from the objective's ``configure_optimizers``), the shuffle
generator, the resumable :class:`~aa_core.train.state.Progress`, the callbacks — and does one thing
per method: a training step, a validation with selection of the best round, an interrupt, the
result. Devices, precision, data-parallel ranks, the non-finite guard and stop signals are handled
here so that ``fit`` reads as the loop it is.
"""
from __future__ import annotations

import copy
import math
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import torch

from .._errors import RunInterrupted, UserError
from ..protocols import SampledDataset
from . import device as devices
from . import distributed, guard, state
from .callbacks import Callback
from .objective import selection
from .rounds import Rounds
from .signals import StopRequest
from .state import Progress


def _to(batch: dict[str, Any], dev: torch.device) -> dict[str, Any]:
    return {k: v.to(dev) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}


class Loop:
    """One training run in progress (built by :func:`~aa_core.train.fit`).

    Public attributes callbacks read: ``model``, ``data``, ``objective``, ``settings`` (``[train]``),
    ``opt``, ``sched``, ``gen``, ``progress``, ``rounds`` (``count``, ``total`` steps, ``length(r)``),
    ``unit`` (``"epoch"`` or ``"round"``), ``metric`` (the selection metric), ``steps_done``,
    ``last_step_s``, ``is_main`` and ``elapsed()`` (seconds of training over every sitting).
    """

    def __init__(self, model: torch.nn.Module, data: Any, settings: Any, objective: Any, callbacks: Sequence[Callback],
                 resume: Path | None = None):
        cfg = self.settings = settings
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        self.device = devices.resolve(cfg.device)
        distributed.init(self.device)
        self.split = distributed.data_parallel(model)  # ranks split each batch (DDP) unless the lattice itself is split
        distributed.check_batch(cfg.batch_size, self.split)
        n = data.sizes()["train"]
        if n == 0:
            raise UserError("the training split is empty: nothing to train on (check the dataset's size and split settings)")
        self.model, self.data, self.objective, self.callbacks = model.to(self.device), data, objective, list(callbacks)
        self.metric, self.sign = selection(cfg, objective)
        self.is_main = distributed.is_main()
        self.was_deterministic = torch.are_deterministic_algorithms_enabled()
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.manual_seed(cfg.seed)
        self.gen = torch.Generator().manual_seed(cfg.seed)
        self.rounds = Rounds(n, cfg, self.gen)
        self.unit = "round" if self.rounds.by_steps else "epoch"
        self.opt, sched = objective.configure_optimizers(model, cfg, self.rounds.total)
        self.sched = sched if sched is not None else torch.optim.lr_scheduler.LambdaLR(self.opt, lambda s: 1.0)
        pool = data.load_state_tensors if isinstance(data, SampledDataset) else None
        self.progress = state.load(resume, self.opt, self.sched, self.gen, pool) if resume is not None else Progress()
        for key, cb in self._keyed().items():
            cb.load_state_dict(self.progress.callbacks.get(key, {}))
        self.step_module = devices.compiled(distributed.wrap(model, self.device, objective.training_loss), cfg.compile)
        self.scaler = devices.scaler(self.device, cfg.precision)
        if distributed.world() > 1 and resume is None:
            torch.manual_seed(cfg.seed + 7919 * distributed.rank())  # per-rank draws (e.g. fire masks); same init and order above
        self.t0 = time.perf_counter() - self.progress.time_s
        self.cpu0 = time.process_time() - self.progress.cpu_s
        self.stop = StopRequest(any(c.handles_interrupt for c in self.callbacks))
        self.stopped_early = self.progress.stale >= cfg.patience
        self.stop_reason: str | None = None
        self.cut = False  # a callback ended the round in progress
        self.last_step_s = 0.0

    # -- what callbacks read ------------------------------------------------------------------
    @property
    def steps_done(self) -> int:
        """Optimizer steps taken so far (skipped batches included), over every sitting."""
        return sum(self.rounds.length(r) for r in range(self.progress.epoch)) + self.progress.batch

    def elapsed(self) -> float:
        return time.perf_counter() - self.t0

    def _keyed(self) -> dict[str, Callback]:
        out: dict[str, Callback] = {}
        for cb in self.callbacks:
            key = type(cb).__name__
            out[key if key not in out else f"{key}.{len(out)}"] = cb
        return out

    def capture_callbacks(self) -> None:
        """Every callback's state into the progress (saved with the next checkpoint)."""
        self.progress.callbacks = {k: cb.state_dict() for k, cb in self._keyed().items()}

    def emit(self, hook: str, *args: Any) -> None:
        for cb in self.callbacks:
            getattr(cb, hook)(self, *args)

    # -- the loop --------------------------------------------------------------------------------
    def round_indices(self) -> range:
        return range(self.progress.epoch, self.rounds.count if not self.stopped_early else self.progress.epoch)

    def steps(self, r: int) -> Iterator[int]:
        """The batch positions of round ``r`` still to do (a resumed round starts where it stopped); ends
        early when a callback asks to stop."""
        self.model.train()
        self.rounds.begin(self.progress)
        for b in range(self.progress.batch, self.rounds.length(r)):
            yield b
            reason = next((why for why in (cb.should_stop(self) for cb in self.callbacks) if why), None)
            if distributed.any_rank(reason is not None):
                self.stop_reason, self.cut = reason or "another rank stopped", True
                return

    def train_step(self, r: int, b: int) -> tuple[dict[str, Any], float]:
        """One optimizer step on the next batch; returns the batch (as the pipeline left it) and the global batch's loss."""
        start, p, cfg = time.perf_counter(), self.progress, self.settings
        where = f"{self.unit} {r + 1}, batch {b + 1}"
        idx = self.rounds.indices(p, b)
        mine, scale = distributed.share(idx, self.split)  # this rank's part of the global batch (all of it in one process)
        batch = self.data.batch("train", idx[mine])
        if self.split:
            batch.update(global_index=idx, share=mine)
        batch = _to(batch, self.device)
        with devices.autocast(self.device, cfg.precision):
            loss = self.step_module(batch) * scale  # the objective says how a batch becomes a loss
        self.opt.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.unscale_(self.opt)
        loss = distributed.mean_over_ranks(loss)  # the global batch's loss, the same on every rank
        if guard.step_allowed(loss, self.model, self.opt, self.sched, cfg, where, p):
            if cfg.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip)
            try:
                self.scaler.step(self.opt)  # opt.step(), or skipped by the fp16 scaler after an overflow
                self.scaler.update()
            except RuntimeError as exc:  # e.g. Adam's step overflowing float32 with a huge learning rate
                if "overflow" not in str(exc):
                    raise
                raise guard.check_update(exc, where) from None
            p.run_loss += float(loss.detach()) * len(idx)
            p.seen += len(idx)
        self.sched.step()
        p.batch = b + 1
        p.time_s, p.cpu_s = self.elapsed(), time.process_time() - self.cpu0
        self.last_step_s = time.perf_counter() - start
        return batch, float(loss.detach())

    def interrupted_mid_round(self, r: int) -> bool:
        """A SIGINT/SIGTERM reached any rank and the round is not finished."""
        return distributed.any_rank(self.stop.signum is not None) and self.progress.batch < self.rounds.length(r)

    def interrupt(self, r: int) -> RunInterrupted:
        """Callbacks save at this step (``on_interrupt``); the error to raise."""
        guard.check_weights(self.model, f"{self.unit} {r + 1}, batch {self.progress.batch}")
        self.emit("on_interrupt")
        return RunInterrupted(f"interrupted at {self.unit} {r + 1}, batch {self.progress.batch}", self.stop.exit_code)

    def validate(self, r: int) -> tuple[dict[str, Any], bool]:
        """Validation metrics of round ``r``; keeps the weights when the selection metric improved."""
        p = self.progress
        guard.check_weights(self.model, f"the end of {self.unit} {r + 1}")
        self.model.eval()
        metrics = {"epoch": r + 1, "train_loss": p.run_loss / max(p.seen, 1), **self.objective.validation_metrics(self.model, self.data)}
        if self.metric not in metrics:
            raise UserError(f"train.select_on = {self.metric!r} is not a metric this task reports; it reports: "
                            f"{', '.join(k for k in metrics if k.startswith('val_'))}. Set train.select_on to one of them")
        p.history.append(metrics)
        value = metrics[self.metric]
        score = self.sign * value if isinstance(value, (int, float)) and math.isfinite(value) else float("-inf")
        improved = score > p.best_score + 1e-7 or (getattr(self.settings, "ties", "first") == "last" and math.isfinite(score) and score >= p.best_score - 1e-7)
        if improved:
            p.best_score, p.best_epoch, p.best_metrics, p.stale = score, r + 1, metrics, 0
            p.best_state = copy.deepcopy(self.model.state_dict())
        else:
            p.stale += 1
        self.rounds.end(p, r)
        p.time_s, p.cpu_s = self.elapsed(), time.process_time() - self.cpu0
        return metrics, improved

    def finished(self) -> bool:
        """After a round: stop on request (RunInterrupted), on patience or when a callback ended the round."""
        p = self.progress
        if distributed.any_rank(self.stop.signum is not None) and p.epoch < self.rounds.count:
            raise RunInterrupted(f"interrupted after {self.unit} {p.epoch}", self.stop.exit_code)
        if p.stale >= self.settings.patience:
            self.stopped_early, self.stop_reason = True, f"{self.settings.patience} {self.unit}s without improvement (train.patience)"
            return True
        if self.cut:
            self.stopped_early = True
        return self.cut

    def close(self) -> None:
        self.emit("teardown")
        self.stop.restore()
        torch.use_deterministic_algorithms(self.was_deterministic)

    def result(self) -> dict[str, Any]:
        """The best round's weights back in the model (on the CPU, in eval mode) and what training did."""
        p = self.progress
        if p.best_state is None:
            raise UserError(f"no {self.unit} produced a finite {self.metric}: nothing to keep (see the history above; {guard.ADVICE})")
        self.model.load_state_dict(p.best_state)
        self.model.cpu().eval()  # what follows (checkpoints, decoders, reports) works on the CPU
        self.capture_callbacks()
        return {"history": p.history, "best_epoch": p.best_epoch, "best": p.best_metrics, "selected": self.metric,
                "mode": "max" if self.sign > 0 else "min", "time_s": self.elapsed(), "cpu_s": time.process_time() - self.cpu0,
                "stopped_early": self.stopped_early or len(p.history) < self.rounds.count, "stop_reason": self.stop_reason,
                "skipped_batches": p.skipped_batches, "steps": p.callbacks.get("StepLog", {}).get("rows", [])}


__all__ = ["Loop"]
