"""Paired statistics (the core's, :mod:`aa_core.run`, where every task's report and ``aa sweep`` read them)."""
from aa_core.run import HIGHER, LOWER, NO_DIFF, interval, paired, resample_indices, t_interval, verdict

__all__ = ["HIGHER", "LOWER", "NO_DIFF", "interval", "paired", "resample_indices", "t_interval", "verdict"]
