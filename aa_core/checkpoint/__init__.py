"""Checkpoints: safetensors weights + JSON metadata, written atomically, verified on load.

A checkpoint is a directory (format: checkpoints/README.md)::

    model.safetensors   model.state_dict() plus extra tensors under "extra/<name>"
    metadata.json       resolved spec, architecture name@version + hash, model hash,
                        plugin versions, code revision, weights sha256, caller's training
                        metadata (dataset hash, hyper-parameters, metrics, history ...)
    extra.json          components' non-parameter state (e.g. the phrase bank's texts)

Weights are never pickled: loading a checkpoint from a stranger cannot run code.
:func:`restore` is the one way back to a working model.

Faults end as a UserError (exit 2), never half-written: a folder is staged and switched in whole
(:func:`checkpoint_folder`), a full disk names the free and needed space
(:func:`require_free_space`, :func:`checkpoint_bytes`), and one process at a time writes a run
folder (:func:`lock_run`).
"""
from ._disk import (
    checkpoint_bytes,
    checkpoint_folder,
    free_bytes,
    replace_folder,
    require_free_space,
    write_files_or_elsewhere,
)
from ._format import (
    EXTRA_JSON,
    FORMAT,
    FORMAT_VERSION,
    METADATA,
    WEIGHTS,
    Checkpoint,
    CheckpointWarning,
    architecture_info,
    check_weights_file,
    load_checkpoint,
    load_verified,
    read_metadata,
    save_checkpoint,
)
from ._lock import RunLock, holds_lock, lock_run
from ._restore import Restored, build_from_checkpoint, component_state, load_weights, restore
from ._runs import create_run_dir, is_run_dir, pointer, prune, resolve_checkpoint, set_pointer

__all__ = [
    "EXTRA_JSON", "FORMAT", "FORMAT_VERSION", "METADATA", "WEIGHTS", "Checkpoint", "CheckpointWarning", "Restored",
    "architecture_info", "build_from_checkpoint", "check_weights_file", "component_state", "load_checkpoint", "load_verified",
    "load_weights", "read_metadata", "restore", "save_checkpoint", "create_run_dir", "is_run_dir", "pointer", "prune",
    "resolve_checkpoint", "set_pointer", "checkpoint_bytes", "checkpoint_folder", "free_bytes", "replace_folder",
    "require_free_space", "write_files_or_elsewhere", "RunLock", "holds_lock", "lock_run",
]
