"""The generic trainer: any task's model, dataset, objective and ``[train]`` settings → trained weights.

Split by concern: :mod:`.loop` (``fit``), :mod:`.engine` (the loop's state and steps),
:mod:`.objective` (objectives, optimizers, selection), :mod:`.callbacks` (the callback base and the
core's own), :mod:`.rounds` (batch order), :mod:`.state` (resumable training state), :mod:`.saver`
(per-round checkpoints), :mod:`.signals` (SIGINT/SIGTERM), :mod:`.guard` (non-finite values),
:mod:`.heap` (freed host memory back to the OS), :mod:`.distributed` (torchrun processes),
:mod:`.device` (device, precision, compile), :mod:`.task` / :mod:`.test_task` (the ``train`` and
``test`` tasks), :mod:`.config` (the ``[train]`` section). Importing this package does not import
torch; its functions do. Plugins import these names from :mod:`aa_core.run`.
"""
from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from .config import TrainConfig

if TYPE_CHECKING:
    from .loop import fit, objective
    from .objective import selection
    from .saver import round_saver
    from .state import Progress

_LAZY = {"fit": ".loop", "objective": ".loop", "selection": ".objective", "Progress": ".state", "round_saver": ".saver"}

__all__ = ["Progress", "TrainConfig", "fit", "objective", "round_saver", "selection"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module 'aa_core.train' has no attribute {name!r}")
