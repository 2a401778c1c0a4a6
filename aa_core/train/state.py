"""Training state beside a checkpoint, so that a run resumes exactly where it stopped.

``train_state.safetensors``: optimizer tensors, RNG states, the epoch's shuffle order and the
best-so-far weights; ``train_state.json``: epoch, batch position, running loss, early-stopping
state, history, scheduler and optimizer scalars, and the sha256 of the tensor file (written
last, so a torn save is detected).
"""
from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import torch

from .._errors import UserError
from .._fs import atomic_path, write_json
from .._hashing import file_sha256

TENSORS = "train_state.safetensors"
STATE = "train_state.json"


@attrs.define
class Progress:
    """Where training stands: the loop's whole state apart from the model, optimizer and schedule."""

    epoch: int = 0  # epochs completed
    batch: int = 0  # batches of the current epoch done (0 at an epoch boundary)
    order: torch.Tensor | None = None  # the current epoch's shuffle order (step-based: the current permutation)
    cursor: int = 0  # step-based training: position in ``order``
    run_loss: float = 0.0
    seen: int = 0
    best_score: float = float("-inf")
    best_epoch: int = -1
    best_metrics: dict[str, Any] = attrs.Factory(dict)
    best_state: dict[str, torch.Tensor] | None = None
    history: list[dict[str, Any]] = attrs.Factory(list)
    stale: int = 0
    time_s: float = 0.0
    cpu_s: float = 0.0  # CPU seconds of the training process (every thread), over every sitting
    skipped_batches: int = 0
    callbacks: dict[str, Any] = attrs.Factory(dict)  # each callback's state_dict() at the last save


def save(directory: Path, progress: Progress, opt: torch.optim.Optimizer, sched: Any, gen: torch.Generator,
         extra: dict[str, torch.Tensor] | None = None) -> None:
    """Write the training state beside a checkpoint; ``extra`` holds a task's own tensors (a sample pool)."""
    from safetensors.torch import save_file

    tensors: dict[str, torch.Tensor] = {"rng.torch": torch.get_rng_state(), "rng.shuffle": gen.get_state()}
    for k, v in (extra or {}).items():
        tensors[f"extra.{k}"] = v.detach().contiguous().clone()
    if progress.order is not None:
        tensors["order"] = progress.order.clone()
    for k, v in (progress.best_state or {}).items():
        tensors[f"best.{k}"] = v.detach().contiguous().clone()
    opt_state = opt.state_dict()
    scalars: dict[str, dict[str, Any]] = {}
    for idx, st in opt_state["state"].items():
        for key, val in st.items():
            if isinstance(val, torch.Tensor):
                tensors[f"opt.{idx}.{key}"] = val.detach().contiguous().clone()
            else:
                scalars.setdefault(str(idx), {})[key] = val
    with atomic_path(directory / TENSORS) as tmp:
        save_file(tensors, str(tmp))
    fields = attrs.asdict(progress, filter=lambda a, _v: a.name not in ("order", "best_state"))
    write_json(directory / STATE, {
        **fields,
        "best_score": progress.best_score if progress.best_score != float("-inf") else None,
        "optimizer": {"param_groups": opt_state["param_groups"], "scalars": scalars},
        "scheduler": sched.state_dict(),
        "tensors_sha256": file_sha256(directory / TENSORS),
    })


def load(directory: Path, opt: torch.optim.Optimizer, sched: Any, gen: torch.Generator,
         extra: Callable[[dict[str, torch.Tensor]], None] | None = None) -> Progress:
    """Restore optimizer, schedule and RNG states in place and return the loop's progress;
    ``extra`` receives the task's own tensors saved with ``save(..., extra=)``."""
    from safetensors.torch import load_file

    state_path, tensor_path = directory / STATE, directory / TENSORS
    if not state_path.is_file() or not tensor_path.is_file():
        raise UserError(f"{directory}: no training state ({STATE}); it is a finished checkpoint, not one to resume from "
                        "(resume from the run folder, or a checkpoint written during training)")
    meta = json.loads(state_path.read_text(encoding="utf-8"))
    if file_sha256(tensor_path) != meta.get("tensors_sha256"):
        raise UserError(f"{tensor_path}: does not match {state_path} (a save was interrupted); resume from the run folder's 'last' pointer")
    tensors = load_file(str(tensor_path))
    torch.set_rng_state(tensors["rng.torch"])
    gen.set_state(tensors["rng.shuffle"])
    opt_state: dict[str, Any] = {"state": {}, "param_groups": meta["optimizer"]["param_groups"]}
    for key, val in tensors.items():
        if key.startswith("opt."):
            _, idx, name = key.split(".", 2)
            opt_state["state"].setdefault(int(idx), {})[name] = val
    for idx, extra in meta["optimizer"]["scalars"].items():
        opt_state["state"].setdefault(int(idx), {}).update(extra)
    opt.load_state_dict(opt_state)
    sched.load_state_dict(meta["scheduler"])
    best = {k[5:]: v for k, v in tensors.items() if k.startswith("best.")}
    if extra is not None:
        extra({k[6:]: v for k, v in tensors.items() if k.startswith("extra.")})
    fields = {a.name for a in attrs.fields(Progress)} - {"order", "best_state", "best_score"}
    return Progress(
        **{k: meta[k] for k in fields if k in meta},
        order=tensors.get("order"),
        best_state=best or None,
        best_score=meta["best_score"] if meta["best_score"] is not None else float("-inf"),
    )
