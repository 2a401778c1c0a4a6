"""Test-time training of a group of tasks as one batched computation, and the attempts it predicts.

:func:`predict_group` never sees a test output: it gets :class:`aa_arc.data.ArcTask` objects (the
demonstration pairs and the test *inputs*). For each task it trains ``attempts`` NCAs (seeds
differ) on the demonstration pairs, and every ``eval_every`` steps keeps, per NCA, the test
predictions of the checkpoint with the most demonstration grids exactly right (ties: the lowest
demonstration loss). Tasks whose demonstration outputs differ in size from their inputs are not
trained: their attempts are the test inputs themselves (scored, like every attempt, by exact match).
"""
from __future__ import annotations

import hashlib
import math
import time
from typing import Any

import torch

from .batched import IGNORE, BatchedNCA, exact_pairs, normalise_gradients, per_model_loss
from .config import ArcConfig
from .core_cell import CellNCA
from .data import ArcTask, Grid


def model_seed(seed: int, task_id: str, attempt: int) -> int:
    """The initial-weight seed of a task's attempt (stable across groupings and processes)."""
    return int(hashlib.sha256(f"{seed}/{task_id}/{attempt}".encode()).hexdigest()[:12], 16)


def cells(task: ArcTask) -> int:
    """Cells one NCA of the task updates per step: its demonstration grids on its own canvas."""
    h, w = task.canvas()
    return len(task.train) * h * w


def groups(tasks: list[ArcTask], size: int, max_padding: float = 1.25) -> list[list[ArcTask]]:
    """Same-size tasks in groups of at most ``size``, similar canvases together (sorted by height, width and
    pairs): a task joins the open group only while the padded group computes at most ``max_padding`` × the
    cells its tasks need (padding is work that buys nothing), else it opens the next group."""
    def key(t: ArcTask) -> tuple[int, int, int, str]:
        h, w = t.canvas()
        return h, w, len(t.train), t.id

    out: list[list[ArcTask]] = []
    for t in sorted((t for t in tasks if t.same_size), key=key):
        g = out[-1] + [t] if out and len(out[-1]) < size else None
        if g is not None:
            padded = len(g) * max(len(x.train) for x in g) * max(x.canvas()[0] for x in g) * max(x.canvas()[1] for x in g)
            if padded <= max_padding * sum(cells(x) for x in g):
                out[-1] = g
                continue
        out.append([t])
    return out


def _pack(grids: list[list[Grid]], fill: int, h: int, w: int) -> torch.Tensor:
    """``[len(grids), P, h, w]`` long tensor of every task's grids, ``fill`` outside them and in missing slots."""
    p = max(len(g) for g in grids)
    out = torch.full((len(grids), p, h, w), fill, dtype=torch.long)
    for i, task_grids in enumerate(grids):
        for j, g in enumerate(task_grids):
            out[i, j, : len(g), : len(g[0])] = torch.tensor(g, dtype=torch.long)
    return out


def untrained_attempts(task: ArcTask, attempts: int) -> dict[str, Any]:
    """The record of a task the NCA does not attempt: each attempt is the test input."""
    return {"task_id": task.id, "trained": False, "attempts": [[g for _ in range(attempts)] for g in task.test_inputs],
            "cpu_s": 0.0, "train_steps": 0, "demo_exact": [], "demo_pairs": len(task.train)}


def predict_group(group: list[ArcTask], config: ArcConfig) -> list[dict[str, Any]]:
    """One record per task: ``attempts`` (per test input, ``config.attempts`` grids), CPU seconds and selection figures."""
    cpu0 = time.process_time()
    a, g = config.attempts, len(group)
    h = max(t.canvas()[0] for t in group)
    w = max(t.canvas()[1] for t in group)
    x = _pack([[p[0] for p in t.train] for t in group], -1, h, w).repeat_interleave(a, 0)  # model i·a + k: task i, attempt k
    y = _pack([[p[1] for p in t.train] for t in group], IGNORE, h, w).repeat_interleave(a, 0)
    real = (x >= 0).flatten(2).any(2)
    test_x = _pack([list(t.test_inputs) for t in group], -1, h, w).repeat_interleave(a, 0)
    gen = torch.Generator().manual_seed(config.seed)  # the fire masks (fire_rate < 1 only)
    seeds = [model_seed(config.seed, t.id, k) for t in group for k in range(a)]
    nca = BatchedNCA(seeds, config.hidden, config.width) if config.cell is None else CellNCA(seeds, config.hidden, config.cell, h, w)
    opt = torch.optim.Adam(nca.parameters(), lr=config.lr)
    best_exact = torch.full((g * a,), -1, dtype=torch.long)
    best_loss = torch.full((g * a,), math.inf)
    best_step = torch.zeros(g * a, dtype=torch.long)
    best_pred = test_x.clamp_min(0).clone()
    budget = config.cpu_s_per_task * g
    step = 0
    for step in range(1, config.train_steps + 1):
        lr = config.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * (step - 1) / config.train_steps)))
        for group_ in opt.param_groups:
            group_["lr"] = lr
        roll = config.steps
        if config.steps_jitter:
            roll = max(1, roll + int(torch.randint(-config.steps_jitter, config.steps_jitter + 1, (1,), generator=gen)))
        logits = nca.forward(x, roll, config.fire_rate, gen)
        losses = per_model_loss(logits, y)
        opt.zero_grad(set_to_none=True)
        losses.sum().backward()
        normalise_gradients(nca.parameters())
        select = ((step - 1) % config.eval_every == 0 or step == config.train_steps) and roll == config.steps
        out_of_budget = time.process_time() - cpu0 >= budget
        if select or out_of_budget:
            _select(nca, config, logits.detach(), losses.detach(), y, real, test_x, step - 1,
                    best_exact, best_loss, best_step, best_pred, gen)
        if out_of_budget:
            break
        opt.step()
    if step == config.train_steps:  # the weights after the last update
        with torch.no_grad():
            logits = nca.forward(x, config.steps, config.fire_rate, gen)
            _select(nca, config, logits, per_model_loss(logits, y), y, real, test_x, step,
                    best_exact, best_loss, best_step, best_pred, gen)
    cpu = (time.process_time() - cpu0) / g
    records = []
    for i, t in enumerate(group):
        attempts = [[_crop(best_pred[i * a + k, q], grid) for k in range(a)] for q, grid in enumerate(t.test_inputs)]
        records.append({"task_id": t.id, "trained": True, "attempts": attempts, "cpu_s": round(cpu, 3), "train_steps": step,
                        "demo_exact": [int(best_exact[i * a + k]) for k in range(a)], "demo_pairs": len(t.train),
                        "demo_loss": [round(float(best_loss[i * a + k]), 5) for k in range(a)],
                        "chosen_step": [int(best_step[i * a + k]) for k in range(a)], "params": nca.n_params()})
    return records


def _select(nca: BatchedNCA | CellNCA, config: ArcConfig, logits: torch.Tensor, losses: torch.Tensor, y: torch.Tensor,
            real: torch.Tensor, test_x: torch.Tensor, step: int, best_exact: torch.Tensor, best_loss: torch.Tensor,
            best_step: torch.Tensor, best_pred: torch.Tensor, gen: torch.Generator) -> None:
    """Keep each model's test predictions from this checkpoint if its demonstration score is its best so far."""
    exact = exact_pairs(logits, y, real)
    better = (exact > best_exact) | ((exact == best_exact) & (losses < best_loss))
    if not bool(better.any()):
        return
    with torch.no_grad():
        pred = nca.forward(test_x, config.steps, config.fire_rate, gen).argmax(2)
    best_pred[better] = pred[better]
    best_exact[better] = exact[better]
    best_loss[better] = losses[better]
    best_step[better] = step


def _crop(pred: torch.Tensor, like: Grid) -> Grid:
    """The prediction on the test input's own cells, as rows."""
    return [[int(v) for v in row] for row in pred[: len(like), : len(like[0])].tolist()]
