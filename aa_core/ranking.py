"""Moved: retrieval ranking (ranks, recall@k, MRR, gold sets) is Q→A's own, in :mod:`aa_qa.ranking`
(distribution aa-qa). The old names still import from here, with a DeprecationWarning, while aa-qa is
installed, until aa-core 0.3 (the deprecation policy in docs/write-a-cell.md)."""
from __future__ import annotations

from importlib import import_module
from typing import Any

from ._deprecated import warn_moved

_NAMES = ("normalise", "ranks", "gold_sets", "ranking_items", "ranking_metrics")


def __getattr__(name: str) -> Any:
    if name not in _NAMES:
        raise AttributeError(f"module 'aa_core.ranking' has no attribute {name!r}")
    warn_moved(f"aa_core.ranking.{name}", "aa_qa.ranking (distribution aa-qa)")
    try:
        return getattr(import_module("aa_qa.ranking"), name)
    except ImportError:
        raise AttributeError(f"aa_core.ranking.{name} moved to aa_qa.ranking: pip install aa-qa") from None
