"""Paired statistics any task's report uses: bootstrap intervals of (model − baseline) on the same
items, Student-t intervals over seeds or folds, and the wording (higher / lower / no difference)."""
from __future__ import annotations

import math

import numpy as np

HIGHER, LOWER, NO_DIFF = "higher", "lower", "no difference detected"


def resample_indices(n_items: int, n: int = 1000, seed: int = 0) -> np.ndarray:
    """``[n, n_items]`` bootstrap resamples of item indices (shared by every metric and system)."""
    return np.random.default_rng(seed).integers(0, n_items, size=(n, n_items))


def interval(values: np.ndarray, idx: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of ``values`` over the resamples ``idx``."""
    values = np.asarray(values, dtype=np.float64)
    if len(values) == 0:
        return (math.nan, math.nan)
    means = values[idx].mean(1)
    lo, hi = np.quantile(means, [(1 - level) / 2, 1 - (1 - level) / 2])
    return (float(lo), float(hi))


def verdict(lo: float, hi: float) -> str:
    """"higher" when the whole interval of (model − baseline) is above 0, "lower" when below, else no difference."""
    if math.isnan(lo) or math.isnan(hi):
        return NO_DIFF
    return HIGHER if lo > 0 else LOWER if hi < 0 else NO_DIFF


def paired(model: dict[str, np.ndarray], baseline: dict[str, np.ndarray], idx: np.ndarray, level: float = 0.95) -> dict[str, dict]:
    """For every per-item metric both systems have: mean of (model − baseline), its paired interval and verdict."""
    out = {}
    for key in model:
        if key not in baseline:
            continue
        d = np.asarray(model[key], dtype=np.float64) - np.asarray(baseline[key], dtype=np.float64)
        lo, hi = interval(d, idx, level)
        out[key] = {"diff": float(d.mean()) if len(d) else math.nan, "ci95": [lo, hi], "verdict": verdict(lo, hi)}
    return out


# two-sided 95 % Student-t quantiles t(0.975, df) for df = 1…30; 1.96 beyond
_T975 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
         2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042]


def t_interval(values: list[float] | np.ndarray) -> tuple[float, float, float]:
    """(mean, lo, hi): 95 % Student-t interval of a mean over a few runs (folds, seeds); nan bounds for one value."""
    v = np.asarray(values, dtype=np.float64)
    m = float(v.mean()) if len(v) else math.nan
    if len(v) < 2:
        return (m, math.nan, math.nan)
    t = _T975[len(v) - 2] if len(v) - 1 <= len(_T975) else 1.96
    half = float(t * v.std(ddof=1) / math.sqrt(len(v)))
    return (m, m - half, m + half)
