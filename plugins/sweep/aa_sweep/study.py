"""The study table: one row per configuration of a sweep whose trials train and test (``[run] tasks =
["train", "test"]``), each row with its seeds' test figures, the paired difference to the reference
row, the parameter budget and the exact command that reproduces it.

``results.csv`` (one row per configuration, the reference's first), ``runs.csv`` (one row per trial,
with its ``aa run`` command) and ``results.md`` (the table and the numbered commands) are written
into the sweep folder; :func:`upsert` merges rows into a curated CSV (e.g. ``docs/tasks/results.csv``,
keyed by task, configuration and settings) and :func:`markdown` renders any such CSV, so docs tables are generated,
never typed.
"""
from __future__ import annotations

import csv
import io
import math
import shlex
from pathlib import Path
from typing import Any

from aa_core.plugin import atomic_path, write_text

COLUMNS = ["task", "config", "settings", "pipeline", "cell", "plugin", "version", "params", "budget", "budget_delta_pct", "seeds",
           "metric", "mode", "val_mean", "test_mean", "test_lo", "test_hi", "test_per_seed", "reference", "diff_mean", "diff_lo",
           "diff_hi", "verdict", "cpu_s_per_seed", "published", "note", "command"]
RUN_COLUMNS = ["config", "seed", "metric", "val", "test", "cpu_s", "best_epoch", "folder", "command"]
REFERENCE = "reference"


def _f(x: float | None, digits: int = 4) -> str:
    return "" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def headline(test: dict[str, Any], selected: str | None, metric: str | None = None) -> str:
    """The test metric a row reports: ``metric`` if given, else the test twin of the selected validation
    metric (``val_accuracy`` → ``test_accuracy``), else the first number the test step reported."""
    if metric:
        return metric
    twin = "test_" + (selected or "").removeprefix("val_")
    if twin in test:
        return twin
    for k, v in test.items():
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return k
    return ""


def verdict_text(lo: float, hi: float, mode: str) -> str:
    """The paired difference's verdict in the metric's own sense: better / worse / no difference detected."""
    from aa_core.run import verdict

    word = verdict(lo, hi)
    if word in ("higher", "lower"):
        better = (word == "higher") == (mode != "min")
        return f"{word} ({'better' if better else 'worse'})"
    return word


def rows(runs: list[dict[str, Any]], info: dict[str, dict[str, Any]], commands: dict[str, str], metric: str | None = None,
         note: str = "", reference_label: str = REFERENCE) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """(configuration rows, trial rows) from the finished trials ``runs`` (each: ``config``, ``seed``, ``metrics``,
    ``test``, ``cpu_s``, ``selected``, ``mode``, ``params``, ``folder``); ``info[config]`` holds its task,
    settings, pipeline, cell, plugin, version, params and budget; ``commands[config]`` its reproducing
    command (``commands["<config> seed <s>"]`` a trial's)."""
    from aa_core.run import t_interval

    by: dict[str, list[dict[str, Any]]] = {}
    for r in runs:
        if r.get("test"):
            by.setdefault(r["config"], []).append(r)
    first = next(iter(by.values()), [{}])[0]
    key = headline(first.get("test") or {}, first.get("selected"), metric)
    ref = {int(r["seed"]): r["test"].get(key) for r in by.get(REFERENCE, [])}
    out, trials = [], []
    for config in sorted(by, key=lambda c: (c != REFERENCE, list(info).index(c) if c in info else 99)):
        runs_ = sorted(by[config], key=lambda r: int(r["seed"]))
        meta = info.get(config, {})
        test = [float(r["test"].get(key, math.nan)) for r in runs_]
        selected = runs_[0].get("selected") or ""
        val = [float((r.get("metrics") or {}).get(selected, math.nan)) for r in runs_]
        mode = runs_[0].get("mode") or "max"
        m, lo, hi = t_interval(test)
        row = {c: "" for c in COLUMNS}
        row.update({k: str(meta.get(k, "")) for k in ("task", "settings", "pipeline", "cell", "plugin", "version")})
        params, budget = meta.get("params") or runs_[0].get("params"), meta.get("budget")
        row.update(config=reference_label if config == REFERENCE else config, params=str(params or ""), budget=str(budget or ""), seeds=",".join(str(r["seed"]) for r in runs_),
                   metric=key, mode=mode, val_mean=_f(sum(val) / len(val)), test_mean=_f(m), test_lo=_f(lo), test_hi=_f(hi),
                   test_per_seed=";".join(_f(t) for t in test), note=note if config != REFERENCE else "",
                   cpu_s_per_seed=_f(sum(float(r.get("cpu_s") or 0) for r in runs_) / len(runs_), 1), command=commands.get(config, ""))
        if params and budget:
            row["budget_delta_pct"] = f"{100 * (int(params) / int(budget) - 1):+.1f}"
        pairs = [(float(r["test"][key]), ref[int(r["seed"])]) for r in runs_ if ref.get(int(r["seed"])) is not None and key in r["test"]]
        if config != REFERENCE and len(pairs) >= 2:
            d, dlo, dhi = t_interval([a - b for a, b in pairs])
            row.update(reference=reference_label, diff_mean=_f(d), diff_lo=_f(dlo), diff_hi=_f(dhi), verdict=verdict_text(dlo, dhi, mode))
        out.append(row)
        for r, t, v in zip(runs_, test, val):
            trials.append({"config": reference_label if config == REFERENCE else config, "seed": str(r["seed"]), "metric": key, "val": _f(v), "test": _f(t), "cpu_s": _f(r.get("cpu_s"), 1),
                           "best_epoch": str(r.get("best_epoch", "")), "folder": str(r.get("folder", "")),
                           "command": commands.get(f"{config} seed {r['seed']}", "")})
    return out, trials


def _csv(rows_: list[dict[str, str]], columns: list[str]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n", extrasaction="ignore")
    w.writeheader()
    w.writerows(rows_)
    return buf.getvalue()


def write(rows_: list[dict[str, str]], trials: list[dict[str, str]], folder: Path) -> dict[str, Path]:
    """``results.csv``, ``runs.csv`` and ``results.md`` in ``folder`` (each written atomically)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {"csv": folder / "results.csv", "runs": folder / "runs.csv", "markdown": folder / "results.md"}
    write_text(paths["csv"], _csv(rows_, COLUMNS))
    write_text(paths["runs"], _csv(trials, RUN_COLUMNS))
    write_text(paths["markdown"], markdown(rows_))
    return paths


def read(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        return []
    with open(path, newline="", encoding="utf-8") as f:
        return [{k: (r.get(k) or "") for k in COLUMNS} for r in csv.DictReader(f)]


def repair(rows_: list[dict[str, str]]) -> list[dict[str, str]]:
    """Every row's paired difference recomputed against its reference row as the table holds it now (same task,
    same training settings, seeds paired), so that replacing a reference row never leaves stale differences."""
    from aa_core.run import t_interval

    for row in rows_:
        refs = [r for r in rows_ if row["reference"] and r["task"] == row["task"] and r["config"] == row["reference"]
                and _training(r["settings"]) == _training(row["settings"]) and r is not row]
        if not refs or not row["test_per_seed"] or not refs[0]["test_per_seed"]:
            continue
        mine = dict(zip(row["seeds"].split(","), (float(v) for v in row["test_per_seed"].split(";"))))
        theirs = dict(zip(refs[0]["seeds"].split(","), (float(v) for v in refs[0]["test_per_seed"].split(";"))))
        diffs = [mine[s] - theirs[s] for s in mine if s in theirs]
        if len(diffs) < 2:
            continue
        d, lo, hi = t_interval(diffs)
        row.update(diff_mean=_f(d), diff_lo=_f(lo), diff_hi=_f(hi), verdict=verdict_text(lo, hi, row["mode"] or "max"))
    return rows_


def upsert(path: Path, new: list[dict[str, str]]) -> list[dict[str, str]]:
    """Replace the rows of ``path`` with the same (task, configuration, settings) by ``new``'s, append the others,
    recompute the paired differences (:func:`repair`); written atomically."""
    rows_ = read(path)
    for row in new:
        at = [i for i, r in enumerate(rows_) if (r["task"], r["config"], r["settings"]) == (row["task"], row["config"], row["settings"])]
        if at:
            rows_[at[0]] = row
            rows_ = [r for i, r in enumerate(rows_) if i not in at[1:]]
        else:
            rows_.append(row)
    rows_ = repair(rows_)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        Path(tmp).write_text(_csv(rows_, COLUMNS), encoding="utf-8")
    return rows_


def _pct(value: str, scale: float) -> str:
    return f"{scale * float(value):.1f}" if value else "–"


def markdown(rows_: list[dict[str, str]]) -> str:
    """The table of a results CSV: per row its test figure with the 95 % t interval over seeds and the paired
    difference to its study's reference (same seeds), parameters against the budget, CPU time; then the
    numbered reproducing commands. Rows are grouped by task and training settings, each group led by its
    reference. Fractions (a metric whose values lie in [0, 1]) are shown in %."""
    published = any(r["published"] for r in rows_)  # a paper's figure for the row (its own protocol: see the docs)
    head = ["| # | task | configuration | model | params (Δ budget) | seeds | val | test [95 % t] | − its reference, paired by seed [95 % t] | "
            f"{'published | ' if published else ''}CPU s / seed | note |", "|---|---|---|---|---|---|---|---|---|" + ("---|" if published else "") + "---|---|"]
    out, cmds = list(head), []
    refs = {(o["task"], o["reference"]) for o in rows_}
    order = sorted(rows_, key=lambda r: (r["task"], _training(r["settings"]), (r["task"], r["config"]) not in refs, r["config"]))
    for i, r in enumerate(order, 1):
        values = [float(v) for v in r["test_per_seed"].split(";") if v]
        scale = 100.0 if values and all(0 <= v <= 1 for v in values) else 1.0
        unit = " (%)" if scale == 100 else ""
        test = f"{_pct(r['test_mean'], scale)} [{_pct(r['test_lo'], scale)}, {_pct(r['test_hi'], scale)}]" if r["test_mean"] else "not run"
        is_ref = (r["task"], r["config"]) in refs
        diff = (f"{scale * float(r['diff_mean']):+.1f} [{scale * float(r['diff_lo']):+.1f}, {scale * float(r['diff_hi']):+.1f}] {r['verdict']}"
                if r["diff_mean"] else ("reference" if is_ref else "–"))
        params = f"{int(r['params']):,}" + (f" ({r['budget_delta_pct']} %)" if r["budget_delta_pct"] else "") if r["params"] else "–"
        model = r["pipeline"] + (f" / {r['cell']}" if r["cell"] else "")
        n = len([s for s in r["seeds"].split(",") if s])
        out.append(f"| {i} | {r['task']} ({r['metric'].removeprefix('test_').replace('_', ' ')}{unit}) | {r['config']} | {model} | {params} | "
                   f"{n or '–'} | {_pct(r['val_mean'], scale)} | {test} | {diff} | {(r['published'] or '–') + ' | ' if published else ''}"
                   f"{r['cpu_s_per_seed'] or '–'} | {r['note']} |")
        if r["command"]:
            cmds.append(f"{i}. `{r['command']}`")
    return "\n".join(out + (["", "Commands (one per row):", "", *cmds] if cmds else [])) + "\n"


MODEL_KINDS = ("geometry", "cell", "propagator", "tokenizer", "subword", "encoder", "adapter", "decoder", "pipeline")


def _training(settings: str) -> str:
    """A row's settings other than the model's: rows with equal ones were trained alike (grouped in the table)."""
    try:
        parts = shlex.split(settings)
    except ValueError:
        return settings
    return " ".join(p for p in parts if p.split("=", 1)[0].split(".", 1)[0] not in MODEL_KINDS and not p.startswith("spec="))


def command(spec: str, seeds: list[int], sets: list[str], extra: list[str]) -> str:
    """``aa sweep SPEC --seeds …`` reproducing one configuration (its overrides as ``--set``)."""
    return shlex.join(["aa", "sweep", spec, "--seeds", ",".join(map(str, seeds)), *[a for s in sets for a in ("--set", s)], *extra])
