"""The public API for running things: specs, models, training, checkpoints, runs and statistics.

What a task plugin, a study or a script imports from the core besides :mod:`aa_core.plugin` (what a
plugin contributes) and :mod:`aa_core.protocols` (the contract). Covered by ``API_VERSION``
(docs/write-a-cell.md, "Versions and the deprecation policy"); everything else under ``aa_core`` is internal and may
change in any release (an import-linter contract keeps first-party plugins off it). Importing this
module is cheap (no torch); each name loads its module on first use.

Specs and models::

    load_spec, validate, parse_override, apply_overrides     a spec file → a validated Spec
    BuildContext, build_model, count_params, trainable_params  a Spec → its model
    forward_bytes, training_bytes, RUNTIME_BYTES             memory estimates (aa check)

Training (the Lightning split: data, objective, fit, callbacks)::

    fit, Loop, Callback, Objective                           the loop, its state, the bases to subclass
    default_optimizers, batches, objective_of, selection     AdamW + schedule, a split in batches, …
    TrainConfig, Progress, round_saver, show_progress        [train], resumable state, per-round checkpoints
    aux_losses, from_main, is_main                           components' auxiliary losses; torchrun ranks

Runs and checkpoints::

    run_spec, seed_everything, new_run_id                    run a spec's tasks; run ids
    host                                                     the plugin host (installed plugins, their contributions and load errors)
    PluginHost, PluginInfo                                   a host over chosen plugins (e.g. a test of one without another)
    restore, load_checkpoint, load_verified, read_metadata,  a checkpoint → a working model
    load_weights, resolve_checkpoint, is_run_dir, pointer,
    create_run_dir, lock_run, prune, free_bytes,             run folders: exclusive, locked, pruned
    write_files_or_elsewhere                                 reports that survive a full disk

Statistics (paired, over items, seeds or folds)::

    t_interval, paired, interval, resample_indices, verdict, HIGHER, LOWER, NO_DIFF
"""
from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    pass

_LAZY = {
    **dict.fromkeys(["load_spec", "validate", "parse_override", "apply_overrides"], "aa_core.spec"),
    **dict.fromkeys(["BuildContext", "build_model", "count_params", "forward_bytes", "training_bytes", "RUNTIME_BYTES"], "aa_core.assemble"),
    "fit": "aa_core.train.loop",
    "Loop": "aa_core.train.engine",
    **dict.fromkeys(["Callback", "show_progress"], "aa_core.train.callbacks"),
    **dict.fromkeys(["Objective", "default_optimizers", "batches", "objective_of", "selection"], "aa_core.train.objective"),
    "TrainConfig": "aa_core.train.config",
    "Progress": "aa_core.train.state",
    "round_saver": "aa_core.train.saver",
    **dict.fromkeys(["new_run_id", "trainable_params"], "aa_core.train.task"),
    **dict.fromkeys(["from_main", "is_main"], "aa_core.train.distributed"),
    "aux_losses": "aa_core.builtins.direct_embedding",
    **dict.fromkeys(["run_spec", "seed_everything"], "aa_core.tasks"),
    **dict.fromkeys(["host", "PluginHost", "PluginInfo"], "aa_core.host"),
    **dict.fromkeys(["restore", "load_checkpoint", "load_verified", "read_metadata", "load_weights", "resolve_checkpoint", "is_run_dir",
                     "pointer", "create_run_dir", "lock_run", "prune", "free_bytes", "write_files_or_elsewhere"], "aa_core.checkpoint"),
    **dict.fromkeys(["t_interval", "paired", "interval", "resample_indices", "verdict", "HIGHER", "LOWER", "NO_DIFF"], "aa_core.stats"),
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'aa_core.run' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__
