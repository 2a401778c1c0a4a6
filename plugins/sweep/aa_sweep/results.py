"""The sweep's table: per configuration, the mean and 95 % interval over seeds of the model's
metrics, of a reference system's, and of the paired difference (model − reference) in each run."""
from __future__ import annotations

import csv
import io
import math
from pathlib import Path

import optuna

from aa_core.plugin import atomic_path, table, write_json
from aa_core.stats import t_interval, verdict

METRICS = (("cosine", "cosine"), ("recall_at_1", "R@1"), ("mrr", "MRR"))


def runs_of(study: optuna.Study) -> list[dict]:
    """Every finished run (one per seed) with its configuration label, from grid or search trials."""
    out = []
    for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)):
        ua = t.user_attrs
        if "runs" in ua:
            out += [{"config": ua["config"], **r} for r in ua["runs"] if "systems" in r]
        elif "systems" in ua:
            out.append(ua)
    return out


def summarise(study: optuna.Study, reference: str) -> list[dict]:
    """One row per configuration, in the order configurations first finished."""
    groups: dict[str, list[dict]] = {}
    for r in runs_of(study):
        groups.setdefault(r["config"], []).append(r)
    rows = []
    for config, runs in groups.items():
        row: dict = {"config": config, "seeds": len(runs), "params": runs[0].get("params")}
        for key, _ in METRICS:
            lat = [r["systems"]["lattice"].get(key, math.nan) for r in runs]
            row[key] = t_interval(lat)
            if reference in runs[0]["systems"]:
                row[f"{reference}:{key}"] = t_interval([r["systems"][reference].get(key, math.nan) for r in runs])
                diff = t_interval([r["paired"].get(reference, {}).get(key, math.nan) for r in runs])
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


def text_table(rows: list[dict], reference: str, markdown: bool = False) -> str:
    header = ["configuration", "seeds", "params"] + [f"{lab}" for _, lab in METRICS] + [f"Δ{lab} vs {reference}" for _, lab in METRICS]
    body = []
    for r in rows:
        cells = [r["config"], str(r["seeds"]), f"{r['params']:,}" if r.get("params") else "?"]
        cells += [_ci(r[k]) for k, _ in METRICS]
        cells += [(_signed(r[f"diff:{k}"]) + f" {r[f'verdict:{k}']}") if f"diff:{k}" in r else "–" for k, _ in METRICS]
        body.append(cells)
    if markdown:
        return "\n".join(["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + ["| " + " | ".join(b) + " |" for b in body])
    return table(header, body)


def write(rows: list[dict], reference: str, folder: Path, plot: bool = True) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = {"json": folder / "results.json", "csv": folder / "results.csv", "markdown": folder / "results.md"}
    write_json(paths["json"], {"reference": reference, "rows": rows})
    buf = io.StringIO()
    w = csv.writer(buf)
    cols = [c for c in rows[0] if c not in ("config", "seeds", "params")] if rows else []
    w.writerow(["config", "seeds", "params"] + [f"{c}{s}" for c in cols for s in ("", "_lo", "_hi") if not c.startswith("verdict") or not s])
    for r in rows:
        cells = [r["config"], r["seeds"], r.get("params")]
        for c in cols:
            cells += [r[c]] if c.startswith("verdict") else list(r[c])
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
    """Per headline metric: each configuration's mean over seeds with its 95 % interval, beside the reference's."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(METRICS), figsize=(5 * len(METRICS), 1.6 + 0.45 * len(rows)), squeeze=False)
    ys = list(range(len(rows)))
    for ax, (key, lab) in zip(axes[0], METRICS):
        for series, colour, dy, name in ((key, "#1f77b4", -0.12, "lattice"), (f"{reference}:{key}", "#7f7f7f", 0.12, reference)):
            pts = [(y + dy, r[series]) for y, r in zip(ys, rows) if series in r]
            for y, (m, lo, hi) in pts:
                err = [[0], [0]] if math.isnan(lo) else [[m - lo], [hi - m]]
                ax.errorbar([m], [y], xerr=err, fmt="o", color=colour, capsize=3, label=name if y == pts[0][0] else None)
        ax.set_yticks(ys, [r["config"] for r in rows], fontsize=8)
        ax.invert_yaxis()
        ax.set(xlabel=f"{lab} (mean over seeds, 95% t interval)", title=lab)
        ax.grid(axis="x", alpha=0.3)
        ax.legend(fontsize=8)
    for ax in axes[0][1:]:
        ax.set_yticklabels([])
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)
