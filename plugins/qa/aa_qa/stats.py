"""Paired statistics (moved to :mod:`aa_core.stats`, where every task's report and ``aa sweep`` read them)."""
from aa_core.stats import HIGHER, LOWER, NO_DIFF, interval, paired, resample_indices, t_interval, verdict

__all__ = ["HIGHER", "LOWER", "NO_DIFF", "interval", "paired", "resample_indices", "t_interval", "verdict"]
