"""What a trial reports and the sweep's table.

A trial's numbers come from its run folder: ``runs/<run-id>/metrics.json`` (written by the core's
``train`` task for any task: the best round's metrics, the selected one and its mode) and, when a
task wrote one, ``runs/<run-id>/report.json`` (its systems' metrics and the paired differences
against reference systems). The table has, per configuration, the mean and 95 % t interval over
seeds of the objective and the other validation metrics, and — for runs with a report — of a
reference system's metrics and of the paired difference (model − reference) in each run.
"""
from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path
from typing import Any

import optuna

from aa_core.plugin import atomic_path, table, write_json
from aa_core.run import t_interval, verdict

MAX_COLUMNS = 6  # metrics shown in the table (the objective first)


def _numbers(d: dict[str, Any]) -> dict[str, float]:
    return {k: float(v) for k, v in d.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


def _model_system(report: dict[str, Any]) -> str | None:
    """The report's system that is the trained model (``meta.model_system``, else ``lattice``, else the first)."""
    systems = report.get("systems") or {}
    name = (report.get("meta") or {}).get("model_system") or ("lattice" if "lattice" in systems else next(iter(systems), None))
    return name if name in systems else None


def _param_count(checkpoint: str | None) -> int | None:
    """Values in a checkpoint's ``model.safetensors`` (read from its header only), for a ``metrics.json``
    without ``params``."""
    path = Path(checkpoint or "") / "model.safetensors"
    if not checkpoint or not path.is_file():
        return None
    from safetensors import safe_open

    with safe_open(str(path), "pt") as f:
        return sum(math.prod(f.get_slice(k).get_shape()) for k in f.keys())


def outcome(folder: Path) -> dict[str, Any]:
    """The numbers a finished trial left in ``folder/runs``: ``metrics`` (the best round's metrics from
    ``metrics.json``; with a report, the model system's metrics under their own names as well),
    ``selected``/``mode``/``best_epoch``, ``params`` (metrics.json's trainable count; a report's
    ``lattice_params`` when it has one), and from a report its ``systems`` and ``paired`` differences.
    ``ok`` is false when the run left neither file."""
    out: dict[str, Any] = {"metrics": {}}
    files = sorted((folder / "runs").glob("*/metrics.json"))
    if files:
        m = json.loads(files[-1].read_text(encoding="utf-8"))
        params = m.get("params")  # the trainable count; a metrics.json written before it existed: the checkpoint's tensors
        out.update(metrics_file=str(files[-1]), selected=m.get("selected"), mode=m.get("mode"), best_epoch=m.get("best_epoch"),
                   params=params if isinstance(params, int) else _param_count(m.get("checkpoint")), cpu_s=m.get("cpu_s"))
        if isinstance(m.get("test"), dict):  # the core's test step: read once, after selection
            out.update(test=_numbers(m["test"]), test_valid=(m.get("test_info") or {}).get("valid", True))
        out["metrics"].update(_numbers(m.get("best") or {}))
    reports = sorted((folder / "runs").glob("*/report.json"))
    if reports:
        rep = json.loads(reports[-1].read_text(encoding="utf-8"))
        systems = {n: _numbers(s) for n, s in (rep.get("systems") or {}).items() if isinstance(s, dict)}
        paired = {n: {k: p[k]["diff"] for k in p if isinstance(p[k], dict) and "diff" in p[k]}
                  for n, p in (rep.get("paired") or {}).items() if isinstance(p, dict)}
        out.update(report=str(reports[-1]), systems=systems, paired=paired)
        model = _model_system(rep)
        if model is not None:
            out["metrics"].update({k: v for k, v in systems[model].items() if k not in out["metrics"]})
            out["params"] = (rep.get("meta") or {}).get("lattice_params") or out.get("params")
    out["ok"] = bool(out["metrics"])
    return out


def objective_value(res: dict[str, Any], objective: str | None) -> float | None:
    """The objective's value in a finished trial (``None``: the metric the run selected on). A run that
    does not report it is marked failed (``ok`` false) with the reason in ``error``."""
    metrics = res.get("metrics") or {}
    key = objective or res.get("selected")
    value = metrics.get(key) if key else None
    if value is None or not math.isfinite(value):
        res["ok"] = False
        res["error"] = (f"the run reports no finite {key!r}; it reports: {', '.join(sorted(metrics)) or 'nothing'} "
                        "(choose one with --objective KEY[:max|min])")
        return None
    return value


def runs_of(study: optuna.Study) -> list[dict]:
    """Every finished run (one per seed) with its configuration label, from grid or search trials."""
    out = []
    for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)):
        ua = t.user_attrs
        for r in ua["runs"] if "runs" in ua else [ua]:
            metrics = r.get("metrics") or (r.get("systems") or {}).get("lattice")  # trials recorded before metrics.json
            if metrics:
                out.append({"config": ua.get("config", r.get("config")), **r, "metrics": metrics})
    return out


def _columns(runs: list[dict], objective: str | None, reference: str) -> list[str]:
    """The metrics of the table: the objective (or the selected metric), the other validation metrics, then
    the report's metrics that have a paired difference against ``reference``; at most MAX_COLUMNS."""
    first = [objective or runs[0].get("selected")]
    common = set.intersection(*(set(r["metrics"]) for r in runs))
    val = sorted(k for k in common if k.startswith("val_"))
    pairedk = [k for k in (runs[0].get("paired") or {}).get(reference, {})  # in the report's order
               if all(k in (r.get("paired") or {}).get(reference, {}) for r in runs)]
    out: list[str] = []
    for k in [*first, *pairedk[:3], *val]:
        if k and k not in out and len(out) < MAX_COLUMNS:
            out.append(k)
    return out


def summarise(study: optuna.Study, reference: str, objective: str | None = None) -> list[dict]:
    """One row per configuration, in the order configurations first finished: ``metrics`` (the columns), and per
    metric its interval over seeds; with a report, the reference's and the paired difference's too."""
    groups: dict[str, list[dict]] = {}
    for r in runs_of(study):
        groups.setdefault(r["config"], []).append(r)
    rows = []
    for config, runs in groups.items():
        keys = _columns(runs, objective, reference)
        row: dict = {"config": config, "seeds": len(runs), "params": runs[0].get("params"), "metrics": keys}
        for key in keys:
            row[key] = t_interval([r["metrics"].get(key, math.nan) for r in runs])
            if all(key in (r.get("paired") or {}).get(reference, {}) for r in runs):
                row[f"{reference}:{key}"] = t_interval([r["systems"].get(reference, {}).get(key, math.nan) for r in runs])
                diff = t_interval([r["paired"][reference][key] for r in runs])
                row[f"diff:{key}"] = diff
                row[f"verdict:{key}"] = verdict(diff[1], diff[2]) if len(runs) > 1 else "one seed"
        rows.append(row)
    return rows


def _ci(v: tuple[float, float, float]) -> str:
    m, lo, hi = v
    return f"{m:.4f}" if math.isnan(lo) else f"{m:.4f} [{lo:.4f}, {hi:.4f}]"


def _signed(v: tuple[float, float, float]) -> str:
    m, lo, hi = v
    return f"{m:+.4f}" if math.isnan(lo) else f"{m:+.4f} [{lo:+.4f}, {hi:+.4f}]"


def _keys(rows: list[dict]) -> tuple[list[str], list[str]]:
    """Every row's metrics in first-seen order, and those with a paired difference in some row."""
    keys: list[str] = []
    for r in rows:
        keys += [k for k in r["metrics"] if k not in keys]
    return keys, [k for k in keys if any(f"diff:{k}" in r for r in rows)]


def text_table(rows: list[dict], reference: str, markdown: bool = False) -> str:
    keys, diffs = _keys(rows)
    header = ["configuration", "seeds", "params", *keys, *[f"Δ{k} vs {reference}" for k in diffs]]
    body = []
    for r in rows:
        cells = [r["config"], str(r["seeds"]), f"{r['params']:,}" if r.get("params") else "?"]
        cells += [_ci(r[k]) if k in r else "–" for k in keys]
        cells += [(_signed(r[f"diff:{k}"]) + f" {r[f'verdict:{k}']}") if f"diff:{k}" in r else "–" for k in diffs]
        body.append(cells)
    if markdown:
        return "\n".join(["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + ["| " + " | ".join(b) + " |" for b in body])
    return table(header, body)


def write(rows: list[dict], reference: str, folder: Path, plot: bool = True, objective: str | None = None) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = {"json": folder / "results.json", "csv": folder / "results.csv", "markdown": folder / "results.md"}
    write_json(paths["json"], {"reference": reference, "objective": objective, "rows": rows})
    cols: list[str] = []
    for r in rows:
        cols += [c for c in r if c not in ("config", "seeds", "params", "metrics") and c not in cols]
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["config", "seeds", "params"] + [f"{c}{s}" for c in cols for s in ("", "_lo", "_hi") if not c.startswith("verdict") or not s])
    for r in rows:
        cells = [r["config"], r["seeds"], r.get("params")]
        for c in cols:
            cells += [r.get(c, "")] if c.startswith("verdict") else list(r.get(c, ("", "", "")))
        w.writerow(cells)
    with atomic_path(paths["csv"]) as tmp:
        Path(tmp).write_text(buf.getvalue(), encoding="utf-8")
    with atomic_path(paths["markdown"]) as tmp:
        Path(tmp).write_text(text_table(rows, reference, markdown=True) + "\n", encoding="utf-8")
    if plot and rows:
        paths["png"] = folder / "results.png"
        _plot(rows, reference, paths["png"])
    return paths


def _plot(rows: list[dict], reference: str, path: Path) -> None:
    """Per metric (the first three columns): each configuration's mean over seeds with its 95 % interval,
    beside the reference's where the runs have one."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = _keys(rows)[0][:3]
    fig, axes = plt.subplots(1, len(keys), figsize=(5 * len(keys), 1.6 + 0.45 * len(rows)), squeeze=False)
    ys = list(range(len(rows)))
    for ax, key in zip(axes[0], keys):
        for series, colour, dy, name in ((key, "#1f77b4", -0.12, "model"), (f"{reference}:{key}", "#7f7f7f", 0.12, reference)):
            pts = [(y + dy, r[series]) for y, r in zip(ys, rows) if series in r]
            for y, (m, lo, hi) in pts:
                err = [[0], [0]] if math.isnan(lo) else [[m - lo], [hi - m]]
                ax.errorbar([m], [y], xerr=err, fmt="o", color=colour, capsize=3, label=name if y == pts[0][0] else None)
        ax.set_yticks(ys, [r["config"] for r in rows], fontsize=8)
        ax.invert_yaxis()
        ax.set(xlabel=f"{key} (mean over seeds, 95% t interval)", title=key)
        ax.grid(axis="x", alpha=0.3)
        ax.legend(fontsize=8)
    for ax in axes[0][1:]:
        ax.set_yticklabels([])
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)
