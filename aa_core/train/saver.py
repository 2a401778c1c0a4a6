"""``fit``'s ``save``: a resumable checkpoint per round in a run folder.

Every round (and at SIGINT/SIGTERM) writes a checkpoint of the model with the trainer's state
beside it (:mod:`.state`, including a sample pool's tensors), moves the folder's ``last`` pointer
to it (``best`` too when the round improved, if asked) and prunes the rounds no pointer names.
The ``train`` task and plugins that drive :func:`~aa_core.train.fit` themselves (e.g. one seed of
a study) share it, so a run folder written by either resumes the same way.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import state as train_state


def _round_name(progress: train_state.Progress, kind: str) -> str:
    """The checkpoint folder of a round: ``epoch-NNNN``, or ``step-EEEE-BBBB`` for a mid-epoch stop."""
    return f"epoch-{progress.epoch:04d}" if kind == "epoch" else f"step-{progress.epoch + 1:04d}-{progress.batch:04d}"


def round_saver(run_dir: str | Path, model: Any, spec: Any, *, pool: Any = None,
                metadata: Callable[[train_state.Progress], dict[str, Any]] | None = None,
                extra_tensors: dict[str, Any] | None = None, extra_json: dict[str, Any] | None = None,
                mark_best: bool = True) -> Callable[..., Path]:
    """A ``save(progress, kind, improved, opt, sched, gen)`` for :func:`~aa_core.train.fit` that writes
    into ``run_dir`` and returns the checkpoint folder it wrote.

    ``pool``: a :class:`~aa_core.protocols.SampledDataset` whose pool is saved with the state;
    ``metadata(progress)``: the checkpoint's metadata for that round; ``extra_tensors`` /
    ``extra_json``: component state (:func:`aa_core.checkpoint.component_state`).
    """
    from ..checkpoint import checkpoint_bytes, prune, save_checkpoint, set_pointer

    run_dir = Path(run_dir)

    def save(p: train_state.Progress, kind: str, improved: bool, opt: Any, sched: Any, gen: Any) -> Path:
        name = _round_name(p, kind)
        folder = run_dir / name
        pool_tensors = pool.state_tensors() if pool is not None else None
        need = checkpoint_bytes(model, extra_tensors, examples=p.order.numel() if p.order is not None else 0, state_tensors=pool_tensors)
        save_checkpoint(folder, model=model, spec=spec, extra_tensors=extra_tensors, extra_json=extra_json,
                        metadata=metadata(p) if metadata is not None else {}, need_bytes=need,
                        beside=lambda d: train_state.save(d, p, opt, sched, gen, pool_tensors))
        set_pointer(run_dir, "last", name)
        if improved and mark_best:
            set_pointer(run_dir, "best", name)
        prune(run_dir)
        return folder

    return save


__all__ = ["round_saver"]
