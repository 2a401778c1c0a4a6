"""Published NCA figures on ARC-AGI, each with its own definition of "solved", and our like-for-like number.

Quoted as issue 35 of this repository lists them (the sources are named; the figures were not
re-derived here). ``ours`` names the count of :func:`aa_arc.score.score` that is compared:
``(unit, subset)`` with unit ``tasks`` (every test grid of the task right) or ``grids`` (test grids).
"""
from __future__ import annotations

from typing import Any

PUBLISHED: list[dict[str, Any]] = [
    {"version": "arcagi", "split": "training", "who": "Xu & Miikkulainen (arXiv 2506.15746)", "value": 23, "of": 172,
     "unit": "tasks", "subset": "feasible",
     "solved": "exact match; 'feasible' tasks: same-size pairs, test colours seen in training; ~800 epochs, a few minutes per task"},
    {"version": "arcagi", "split": "training", "who": "ARC-NCA, EngramNCA v3 (arXiv 2505.08778)", "value": 13.0, "of": 262,
     "unit": "% tasks", "subset": "same_size",
     "solved": "log pixel-MSE ≤ −7 on a colour encoding of the first test input (not exact match); 3,000 iterations on a GPU"},
    {"version": "arcagi", "split": "training", "who": "ARC-NCA, union of two variants (arXiv 2505.08778)", "value": 15.3, "of": 262,
     "unit": "% tasks", "subset": "same_size", "solved": "as above (log pixel-MSE ≤ −7), either of two models"},
    {"version": "arcagi", "split": "training", "who": "ENCA (CMA-ES evolved NCAs)", "value": 16.1, "unit": "% grids", "subset": "all",
     "solved": "pass@2 exact match per test grid; 27–73 s per task on 72 CPU cores"},
    {"version": "arcagi", "split": "training", "who": "ENCA", "value": 25.0, "unit": "% grids", "subset": "same_size",
     "solved": "pass@2 exact match, same-size test grids"},
    {"version": "arcagi", "split": "evaluation", "who": "ENCA", "value": 4.06, "unit": "% grids", "subset": "all",
     "solved": "pass@2 exact match per test grid"},
    {"version": "arcagi", "split": "evaluation", "who": "ENCA", "value": 6.14, "unit": "% grids", "subset": "same_size",
     "solved": "pass@2 exact match, same-size test grids"},
    {"version": "arcagi2", "split": "evaluation", "who": "ENCA", "value": 1.16, "unit": "% grids", "subset": "all",
     "solved": "pass@2 exact match per test grid"},
    {"version": "arcagi", "split": "training", "who": "plain NCA baseline (community repository)", "value": 21, "of": 400,
     "unit": "tasks", "subset": "all", "solved": "tasks solved (exact match)"},
    {"version": "arcagi", "split": "evaluation", "who": "plain NCA baseline (community repository)", "value": 9, "of": 400,
     "unit": "tasks", "subset": "all", "solved": "tasks solved (exact match)"},
    {"version": "arcagi2", "split": "evaluation", "who": "plain NCA baseline (community repository)", "value": 0, "of": 120,
     "unit": "tasks", "subset": "all", "solved": "tasks solved (exact match)"},
]


def figures_for(version: str, split: str) -> list[dict[str, Any]]:
    return [f for f in PUBLISHED if f["version"] == version and f["split"] == split]


def ours(fig: dict[str, Any], scores: dict[str, Any]) -> tuple[str, bool]:
    """Our like-for-like number for a published figure, and whether it is at least as high."""
    unit = "grids" if fig["unit"] == "% grids" else "tasks"
    c = scores[unit][fig["subset"]]
    pct = 100.0 * c["solved"] / c["total"] if c["total"] else 0.0
    if fig["unit"] == "tasks":
        return f"{c['solved']} / {c['total']}", c["solved"] >= fig["value"]
    return f"{pct:.2f} % ({c['solved']} / {c['total']})", pct >= fig["value"]
