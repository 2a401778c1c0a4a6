"""Configurations of the ARC NCA compared with tasks as the paired unit.

Each ARC run folder's ``results.json`` holds every task's outcome (``scores.per_task``). Two runs over
the same tasks are paired task by task: the difference in solved tasks is counted on the tasks where
they disagree (one solves, the other not), with an exact two-sided sign test (McNemar's) on those
and a 95 % interval of the mean paired difference (t over tasks). A study = several runs beside one
reference run; choose on the training split, read the evaluation split once for the final report.

    python -m aa_arc.compare runs/base runs/hidden40 runs/steps300 [--reference runs/base] [--out table.md]
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

from aa_core.run import t_interval

from .report import update

SETTINGS = ("cell", "hidden", "width", "steps", "steps_jitter", "train_steps", "lr", "fire_rate", "seed")


class CompareError(ValueError):
    """Bad input to a comparison: the message names the file and the fix (the CLI exits 2 with it)."""


def load(folder: Path) -> dict[str, Any]:
    """A run folder's ``results.json``."""
    path = Path(folder) / "results.json"
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise CompareError(f"{path}: no results.json; finish the run first (rerun its `aa run` command: it continues)") from None
    except json.JSONDecodeError as e:
        raise CompareError(f"{path}: not JSON ({e}); rerun the ARC run to rewrite it") from None


def paired(run: dict[str, Any], reference: dict[str, Any]) -> dict[str, Any]:
    """Solved tasks of ``run`` against ``reference`` on the tasks both scored."""
    a, b = run["scores"]["per_task"], reference["scores"]["per_task"]
    common = sorted(set(a) & set(b))
    if not common:
        raise CompareError("the runs share no task; compare runs over the same split and tasks")
    diffs = [int(a[t]["solved"]) - int(b[t]["solved"]) for t in common]
    gained, lost = diffs.count(1), diffs.count(-1)
    mean, lo, hi = t_interval(diffs)
    return {"tasks": len(diffs), "solved": sum(int(a[t]["solved"]) for t in common), "reference_solved": sum(int(b[t]["solved"]) for t in common),
            "gained": gained, "lost": lost, "p": sign_test(gained, lost), "diff": mean, "lo": lo, "hi": hi}


def sign_test(gained: int, lost: int) -> float:
    """Exact two-sided sign test (McNemar's) of ``gained`` against ``lost`` discordant tasks: p of a split at
    least this uneven when either run is equally likely to win a discordant task."""
    n = gained + lost
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(min(gained, lost) + 1)) / 2**n
    return min(1.0, 2 * tail)


def label(run: dict[str, Any], reference: dict[str, Any]) -> str:
    """The settings in which a run differs from the reference (``reference`` for itself)."""
    s, r = run["settings"], reference["settings"]
    changed = [update(s) if k == "cell" else f"{k}={s.get(k)}" for k in SETTINGS if s.get(k) != r.get(k)]
    return ", ".join(changed) if changed else "reference"


def table(folders: list[Path], reference: Path) -> str:
    """The study's Markdown table: one row per run, paired by task against ``reference``."""
    ref = load(reference)
    r = ref["settings"]
    lines = [f"{ref['label']}; reference: hidden {r['hidden']}, width {r['width']}, T = {r['steps']}, "
             f"{r['train_steps']} optimiser steps, seed {r['seed']}; pass@{ref['scores']['k']} exact match, a task solved "
             "when every test grid is.", "",
             "| run | settings (vs the reference) | tasks (paired) | solved | gained / lost vs the reference | "
             "paired difference, % of tasks [95 % t] | sign test p | CPU-s per attempted task |",
             "|---|---|---|---|---|---|---|---|"]
    for folder in folders:
        run = load(folder)
        c = paired(run, ref)
        own = Path(folder).resolve() == Path(reference).resolve()
        diff = "–" if own else f"{100 * c['diff']:+.1f} [{100 * c['lo']:+.1f}, {100 * c['hi']:+.1f}]"
        solved = str(c["solved"]) if own or c["tasks"] == len(ref["scores"]["per_task"]) else f"{c['solved']} (reference: {c['reference_solved']})"
        lines.append(f"| {Path(folder).name} | {label(run, ref)} | {c['tasks']} | {solved} | "
                     f"{'–' if own else str(c['gained']) + ' / ' + str(c['lost'])} | {diff} | "
                     f"{'–' if own else format(c['p'], '.2g')} | {run['cpu']['mean_s']:.1f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m aa_arc.compare", description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", nargs="+", type=Path, help="ARC run folders (runs/<name>) over the same tasks")
    ap.add_argument("--reference", type=Path, default=None, help="the run the others are paired against (default: the first)")
    ap.add_argument("--out", type=Path, default=None, help="write the table here (Markdown) as well as printing it")
    a = ap.parse_args(argv)
    try:
        text = table(a.runs, a.reference or a.runs[0])
    except CompareError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(text, end="")
    if a.out:
        tmp = a.out.with_suffix(a.out.suffix + ".tmp")
        tmp.write_text(text)
        tmp.replace(a.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
