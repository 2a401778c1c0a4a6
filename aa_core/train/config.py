"""The core's ``[train]`` section (defined beside ``[run]`` in :mod:`aa_core.spec`, a lower layer)."""
from ..spec._sections import RUNTIME_KEYS, TrainConfig

__all__ = ["RUNTIME_KEYS", "TrainConfig"]
