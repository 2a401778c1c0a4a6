"""The training loop for any task: a model, a dataset and the core's ``[train]`` settings.

The task owns the maths (:class:`~aa_core.protocols.TaskObjective` on the dataset, else the
pipeline's :class:`~aa_core.protocols.TrainablePipeline` methods); this loop owns the rest:
shuffling, rounds (epochs, or ``eval_every`` steps), validation and selection of the best round
on any metric, early stopping, the non-finite guard, stop requests, checkpoints through
``save``, exact resume, devices and data-parallel processes. Seeded and deterministic.
"""
from __future__ import annotations

import copy
import math
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import torch

from .._errors import RunInterrupted, UserError
from ..protocols import SampledDataset, TaskObjective, TrainablePipeline
from . import device as devices
from . import distributed, guard, heap, state
from .signals import StopRequest
from .state import Progress

Loss = Callable[[torch.nn.Module, dict[str, Any]], torch.Tensor]
Saver = Callable[..., None]


def objective(model: torch.nn.Module, dataset: Any, cfg: Any) -> tuple[Loss, Callable[[], dict[str, float]]]:
    """The task's loss and validation: the dataset's when it owns the maths, else the pipeline's."""
    if isinstance(dataset, TaskObjective):
        return (lambda m, b: dataset.training_loss(m, b)), (lambda: dataset.validation_metrics(model))
    if isinstance(model, TrainablePipeline):
        return (lambda m, b: m.training_loss(b, cfg)), (lambda: model.validation_metrics(dataset, cfg))
    raise UserError(f"{type(model).__name__} cannot be trained on {type(dataset).__name__}: the pipeline needs training_loss(batch, "
                    "settings) and validation_metrics(dataset, settings), or the dataset training_loss(model, batch) and "
                    "validation_metrics(model) (aa_core.protocols: TrainablePipeline, TaskObjective)")


def selection(cfg: Any, dataset: Any) -> tuple[str, float]:
    """The metric that picks the best round, and +1 (higher is better) or −1."""
    metric = cfg.select_on or getattr(dataset, "default_selection", None) or "val_loss"
    return metric, cfg.direction(metric)


def show_progress(enabled: bool | str) -> bool:
    """Whether a progress bar is drawn: ``progress=True`` on a terminal (``"lines"`` never draws one)."""
    return enabled is True and sys.stderr.isatty()


def _duration(seconds: float) -> str:
    """``"40 s"``, ``"12 min"`` or ``"2.3 h"``: a remaining-time estimate for a progress line."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min" if seconds < 5400 else f"{seconds / 3600:.1f} h"


def _to(batch: dict[str, Any], dev: torch.device) -> dict[str, Any]:
    return {k: v.to(dev) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}


def _schedule(opt: torch.optim.Optimizer, cfg: Any, total: int) -> Any:
    cosine = cfg.schedule == "cosine"
    return torch.optim.lr_scheduler.LambdaLR(opt, (lambda s: 0.5 * (1 + math.cos(math.pi * min(s, total) / total))) if cosine else (lambda s: 1.0))


class _Rounds:
    """Which training indices each step of a round takes: epochs (a fresh permutation per epoch, the
    last batch smaller) or, with ``steps``, ``eval_every`` full batches from a running permutation."""

    def __init__(self, n: int, cfg: Any, gen: torch.Generator):
        self.n, self.cfg, self.gen = n, cfg, gen
        self.by_steps = cfg.steps is not None
        self.count = math.ceil(cfg.steps / cfg.eval_every) if self.by_steps else cfg.epochs
        self.total = cfg.steps if self.by_steps else cfg.epochs * max(1, math.ceil(n / cfg.batch_size))

    def length(self, r: int) -> int:
        if self.by_steps:
            return min(self.cfg.eval_every, self.cfg.steps - r * self.cfg.eval_every)
        return len(range(0, self.n, self.cfg.batch_size))

    def begin(self, p: Progress) -> None:
        if not self.by_steps and (p.batch == 0 or p.order is None):
            p.order, p.run_loss, p.seen, p.batch = torch.randperm(self.n, generator=self.gen), 0.0, 0, 0
        elif self.by_steps and p.batch == 0:
            p.run_loss, p.seen = 0.0, 0

    def indices(self, p: Progress, b: int) -> torch.Tensor:
        bs = self.cfg.batch_size
        if not self.by_steps:
            assert p.order is not None
            return p.order[b * bs : (b + 1) * bs]
        if p.order is None or p.cursor + min(bs, self.n) > self.n:
            p.order, p.cursor = torch.randperm(self.n, generator=self.gen), 0
        idx = p.order[p.cursor : p.cursor + bs]
        p.cursor += len(idx)
        return idx

    def end(self, p: Progress, r: int) -> None:
        p.epoch, p.batch = r + 1, 0
        if not self.by_steps:
            p.order = None


def fit(model: torch.nn.Module, dataset: Any, cfg: Any, *, progress: bool | Literal["lines"] = True, desc: str = "train",
        save: Saver | None = None, resume: Path | None = None) -> dict[str, Any]:
    """Train ``model`` in place on ``dataset``; the best round's weights are restored at the end.

    ``save(progress, kind, improved, opt, sched, gen)`` is called after every round (``kind =
    "epoch"``) and, on SIGINT/SIGTERM, after the current step (``"step"``) before
    :class:`RunInterrupted` is raised. ``resume`` is a checkpoint folder with training state.
    ``progress``: ``True`` draws a bar on a terminal and prints a line per round elsewhere; ``"lines"``
    always prints the lines (e.g. several processes sharing one terminal); ``False`` neither.
    Returns ``{"history", "best_epoch", "best", "selected", "time_s", "stopped_early", "skipped_batches"}``.
    """
    from tqdm.auto import tqdm

    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    dev = devices.resolve(cfg.device)
    distributed.init(dev)
    split = distributed.data_parallel(model)  # ranks split each batch (DDP) unless the lattice itself is split
    distributed.check_batch(cfg.batch_size, split)
    n = dataset.sizes()["train"]
    if n == 0:
        raise UserError("the training split is empty: nothing to train on (check the dataset's size and split settings)")
    model.to(dev)
    loss_of, validate = objective(model, dataset, cfg)
    metric, sign = selection(cfg, dataset)
    pool = dataset if isinstance(dataset, SampledDataset) else None
    progress = progress if distributed.is_main() else False
    was_det = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    opt = torch.optim.AdamW([q for q in model.parameters() if q.requires_grad], lr=cfg.lr, weight_decay=cfg.weight_decay)
    rounds = _Rounds(n, cfg, gen)
    sched = _schedule(opt, cfg, rounds.total)
    p = state.load(resume, opt, sched, gen, pool.load_state_tensors if pool else None) if resume is not None else Progress()
    step = devices.compiled(distributed.wrap(model, dev, loss_of), cfg.compile)  # DDP over ranks when launched by torchrun
    scaler = devices.scaler(dev, cfg.precision)
    writer = save if distributed.is_main() else None  # only rank 0 writes checkpoints
    if distributed.world() > 1 and resume is None:
        torch.manual_seed(cfg.seed + 7919 * distributed.rank())  # per-rank draws (e.g. fire masks); same init and order above
    t0 = time.perf_counter() - p.time_s
    done = sum(rounds.length(r) for r in range(p.epoch)) + p.batch
    sitting = time.perf_counter(), done  # this sitting's start: the rate behind the lines' time estimate
    bar = tqdm(total=rounds.total, initial=done, desc=desc, disable=not show_progress(progress), leave=False, dynamic_ncols=True)
    stop = StopRequest(save is not None)
    stopped_early = p.stale >= cfg.patience
    unit = "round" if rounds.by_steps else "epoch"
    try:
        for r in range(p.epoch, rounds.count if not stopped_early else p.epoch):
            model.train()
            rounds.begin(p)
            length = rounds.length(r)
            for b in range(p.batch, length):
                step_start = time.perf_counter()
                where = f"{unit} {r + 1}, batch {b + 1}"
                idx = rounds.indices(p, b)
                mine, scale = distributed.share(idx, split)  # this rank's part of the global batch (all of it in one process)
                batch = dataset.batch("train", idx[mine])
                if split:
                    batch.update(global_index=idx, share=mine)
                batch = _to(batch, dev)
                with devices.autocast(dev, cfg.precision):
                    loss = step(batch) * scale  # the task says how a batch becomes a loss
                opt.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                scaler.unscale_(opt)
                loss = distributed.mean_over_ranks(loss)  # the global batch's loss, the same on every rank
                if guard.step_allowed(loss, model, opt, cfg, where, p):
                    if cfg.grad_clip > 0:
                        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
                    try:
                        scaler.step(opt)  # opt.step(), or skipped by the fp16 scaler after an overflow
                        scaler.update()
                    except RuntimeError as exc:  # e.g. Adam's step overflowing float32 with a huge learning rate
                        if "overflow" not in str(exc):
                            raise
                        raise guard.check_update(exc, where) from None
                    p.run_loss += float(loss.detach()) * len(idx)
                    p.seen += len(idx)
                if pool is not None:
                    pool.after_step(batch, model)
                sched.step()
                p.batch = b + 1
                p.time_s = time.perf_counter() - t0
                if time.perf_counter() - step_start >= heap.SLOW_STEP_S:
                    heap.release_freed_memory()  # slow steps of changing shapes fragment the C heap
                bar.update(1)
                bar.set_postfix({unit: r + 1, "loss": f"{p.run_loss / max(p.seen, 1):.4f}"}, refresh=False)
                if distributed.any_rank(stop.signum is not None) and p.batch < length:  # every rank stops at the same step
                    guard.check_weights(model, where)
                    if writer is not None:
                        writer(p, "step", False, opt, sched, gen)
                    raise RunInterrupted(f"interrupted at {unit} {r + 1}, batch {p.batch}", stop.exit_code)
            guard.check_weights(model, f"the end of {unit} {r + 1}")
            model.eval()
            metrics = {"epoch": r + 1, "train_loss": p.run_loss / max(p.seen, 1), **validate()}
            if metric not in metrics:
                raise UserError(f"train.select_on = {metric!r} is not a metric this task reports; it reports: "
                                f"{', '.join(k for k in metrics if k.startswith('val_'))}. Set train.select_on to one of them")
            p.history.append(metrics)
            heap.release_freed_memory()
            bar.set_postfix({unit: r + 1, "loss": f"{metrics['train_loss']:.4f}", metric: f"{metrics[metric]:.4f}"}, refresh=True)
            if progress and bar.disable:  # no terminal: one plain line per round instead of the bar
                shown = ", ".join(f"{k} {v:.4f}" for k, v in metrics.items() if k.startswith("val_") and isinstance(v, float))
                now, steps = time.perf_counter(), sum(rounds.length(i) for i in range(r + 1))
                rate = (now - sitting[0]) / max(steps - sitting[1], 1)  # seconds per step (validation included)
                left = f"; ~{_duration(rate * (rounds.total - steps))} more at most" if steps < rounds.total else ""
                print(f"{desc} {unit} {r + 1}/{rounds.count}: loss {metrics['train_loss']:.4f}, {shown} "
                      f"({now - t0:.0f} s{left})", flush=True)
            value = metrics[metric]
            score = sign * value if isinstance(value, (int, float)) and math.isfinite(value) else float("-inf")
            improved = score > p.best_score + 1e-7
            if improved:
                p.best_score, p.best_epoch, p.best_metrics = score, r + 1, metrics
                p.best_state = copy.deepcopy(model.state_dict())
                p.stale = 0
            else:
                p.stale += 1
            rounds.end(p, r)
            p.time_s = time.perf_counter() - t0
            if writer is not None:
                writer(p, "epoch", improved, opt, sched, gen)
            if distributed.any_rank(stop.signum is not None) and p.epoch < rounds.count:
                raise RunInterrupted(f"interrupted after {unit} {p.epoch}", stop.exit_code)
            if p.stale >= cfg.patience:
                stopped_early = True
                break
    finally:
        stop.restore()
        bar.close()
        torch.use_deterministic_algorithms(was_det)
    if p.best_state is None:
        raise UserError(f"no {unit} produced a finite {metric}: nothing to keep (see the history above; {guard.ADVICE})")
    model.load_state_dict(p.best_state)
    model.cpu().eval()  # what follows (checkpoints, decoders, reports) works on the CPU
    return {"history": p.history, "best_epoch": p.best_epoch, "best": p.best_metrics, "selected": metric,
            "time_s": time.perf_counter() - t0, "stopped_early": stopped_early or len(p.history) < rounds.count,
            "skipped_batches": p.skipped_batches}
