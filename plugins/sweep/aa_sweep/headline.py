"""The README's summary table ("where cellular models win and lose"), rendered from a CSV of claims.

Each claim row names its lattice and its strongest baseline either as a row of a study CSV
(``docs/tasks/results.csv#TASK|CONFIG``: the figure, interval, seeds and parameters come from there) or
as plain text (a figure measured outside the study runner: the text says where). When both are study
rows trained with the same seeds, the paired difference is computed here and the verdict follows from
it and from the comparison's status, never typed: **wins** / **loses** only for a like-for-like
comparison with ≥ 5 seeds whose paired 95 % interval excludes 0, **ties** when it includes 0, and
"higher" / "lower" (not a win or a loss) when the comparison is not like for like or has too few seeds.

Columns of the claims CSV: ``task`` (the row's label, with its metric), ``lattice``, ``baseline`` (a study
row reference or text), ``published`` (a paper's figure, with its own definition), ``comparison`` (``like
for like`` or what differs), ``verdict`` (``auto``, or text when there is no paired difference), ``seeds``
(text, when the lattice is not a study row), ``note`` (shown after the verdict).
"""
from __future__ import annotations

import csv
from pathlib import Path

from .study import read

MIN_SEEDS = 5
LIKE_FOR_LIKE = "like for like"


def _row(ref: str, root: Path) -> dict[str, str] | None:
    """The study row a ``CSV#TASK|CONFIG`` reference names (None for plain text)."""
    path, sep, key = ref.partition("#")
    if not sep or not path.endswith(".csv"):
        return None
    task, _, config = key.partition("|")
    hits = [r for r in read(root / path) if r["task"] == task and r["config"] == config]
    if len(hits) != 1:
        raise ValueError(f"{ref}: {len(hits)} rows of {path} have task {task!r} and configuration {config!r} (expected one)")
    return hits[0]


def _values(row: dict[str, str]) -> dict[str, float]:
    return dict(zip(row["seeds"].split(","), (float(v) for v in row["test_per_seed"].split(";") if v)))


PERCENT = ("accuracy", "match", "agreement")  # metrics shown in %; others (cosine, 1 − IoU, MSE) as they are


def _scale(row: dict[str, str]) -> float:
    return 100.0 if any(w in row["metric"] for w in PERCENT) and all(0 <= v <= 1 for v in _values(row).values()) else 1.0


def _figure(row: dict[str, str]) -> str:
    s = _scale(row)
    unit = " %" if s == 100 else ""
    mean = f"{s * float(row['test_mean']):.1f}{unit}" if s == 100 else f"{float(row['test_mean']):.3f}"
    interval = (f" [{s * float(row['test_lo']):.1f}, {s * float(row['test_hi']):.1f}]" if s == 100
                else f" [{float(row['test_lo']):.3f}, {float(row['test_hi']):.3f}]") if row["test_lo"] else ""
    params = f", {int(row['params']):,} params" if row["params"] else ""
    return f"{row['config']}: {mean}{interval}{params}"


def _paired(lattice: dict[str, str], baseline: dict[str, str]) -> tuple[float, float, float, int]:
    from aa_core.run import t_interval

    a, b = _values(lattice), _values(baseline)
    seeds = [k for k in a if k in b]
    m, lo, hi = t_interval([a[k] - b[k] for k in seeds])
    return m, lo, hi, len(seeds)


def verdict(lo: float, hi: float, seeds: int, mode: str, comparison: str) -> str:
    """The verdict of (lattice − baseline)'s paired interval, in the metric's sense (``mode`` max or min)."""
    better, worse = (lo > 0, hi < 0) if mode != "min" else (hi < 0, lo > 0)
    strict = comparison.strip().lower() == LIKE_FOR_LIKE and seeds >= MIN_SEEDS
    if better:
        return "**wins**" if strict else "higher (not a like-for-like win)" if seeds >= MIN_SEEDS else f"higher ({seeds} seeds)"
    if worse:
        return "**loses**" if strict else "lower"
    return "**ties** (no difference detected)"


def render(path: Path, root: Path) -> str:
    """The Markdown table of the claims CSV ``path`` (study references resolved against ``root``)."""
    with path.open(encoding="utf-8", newline="") as f:
        claims = list(csv.DictReader(f))
    out = ["| task | lattice [95 % t] | strongest baseline here | lattice − baseline, paired [95 % t] | published (its own protocol) | "
           "comparison | verdict | seeds |", "|---|---|---|---|---|---|---|---|"]
    for c in claims:
        lat, base = _row(c["lattice"], root), _row(c["baseline"], root)
        diff, seeds = "–", c["seeds"]
        word = c["verdict"]
        if lat is not None and base is not None:
            m, lo, hi, n = _paired(lat, base)
            s = _scale(lat)
            diff = f"{s * m:+.1f} [{s * lo:+.1f}, {s * hi:+.1f}]" if s == 100 else f"{m:+.3f} [{lo:+.3f}, {hi:+.3f}]"
            seeds = seeds or str(n)
            if word == "auto":
                word = verdict(lo, hi, n, lat["mode"] or "max", c["comparison"])
        elif word == "auto":
            raise ValueError(f"{path}: the row {c['task']!r} says verdict auto but its lattice and baseline are not both study rows")
        if lat is not None and not seeds:
            seeds = str(len(_values(lat)))
        note = f"; {c['note']}" if c["note"] else ""
        out.append(f"| {c['task']} | {_figure(lat) if lat else c['lattice']} | {_figure(base) if base else c['baseline']} | {diff} | "
                   f"{c['published'] or '–'} | {c['comparison']} | {word}{note} | {seeds} |")
    return "\n".join(out) + "\n"
