"""Run folders: one per run, created exclusively, holding epoch checkpoints and ``best`` / ``last``
pointer files that are switched atomically (a reader never sees a half-written checkpoint).

::

    checkpoints/<run-id>/
        best              text: the name of the best checkpoint folder
        last              text: the name of the newest checkpoint folder (resume from here)
        epoch-0007/       a complete checkpoint (metadata.json, model.safetensors, ...)
        step-0008-0003/   a checkpoint saved mid-epoch on SIGINT/SIGTERM
        final/            the finished run's checkpoint (replaced whole when a run is extended)
        .lock             held (flock) by the run writing the folder; see ._lock
"""
from __future__ import annotations

import json
import secrets
import shutil
from pathlib import Path

from .._errors import UserError
from .._fs import write_text
from ._disk import OLD_SUFFIX, POINTERS, disk_error, is_leftover, is_run_dir, is_staging
from ._lock import holds_lock


def create_run_dir(parent: str | Path, run_id: str) -> Path:
    """A new folder ``parent/run_id[-N]`` created exclusively: never an existing one, even when
    several runs start at the same moment."""
    parent = Path(parent)
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create the checkpoint folder {parent} ({exc.strerror}); fix run.checkpoint_dir") from None
    for attempt in range(1000):
        path = parent / (run_id if attempt == 0 else f"{run_id}-{attempt}")
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue
        except OSError as exc:
            err = disk_error(exc, parent, None, "run.checkpoint_dir", "a run folder")
            raise err or UserError(f"cannot create {path} ({exc.strerror}); fix run.checkpoint_dir") from None
    return create_run_dir(parent, f"{run_id}-{secrets.token_hex(3)}")


def set_pointer(run_dir: str | Path, name: str, target: str) -> None:
    """Atomically point ``run_dir/name`` (``best`` or ``last``) at the checkpoint folder ``target``."""
    try:
        write_text(Path(run_dir) / name, target + "\n")
    except OSError as exc:
        err = disk_error(exc, Path(run_dir), None, "run.checkpoint_dir", f"the '{name}' pointer")
        if err is None:
            raise
        raise err from None


def pointer(run_dir: str | Path, name: str) -> Path | None:
    """The checkpoint folder ``run_dir/name`` points at, if the pointer and the folder exist."""
    p = Path(run_dir) / name
    if not p.is_file():
        return None
    target = Path(run_dir) / p.read_text(encoding="utf-8").strip()
    if target.is_dir():
        return target
    # a folder replaced without an atomic exchange, caught between its two renames: the old one is complete
    old = sorted(Path(run_dir).glob(f".{target.name}.*{OLD_SUFFIX}"))
    return old[0] if old and (old[0] / "metadata.json").is_file() else None


def resolve_checkpoint(directory: str | Path, which: str = "best") -> Path:
    """A checkpoint folder itself, or the one a run folder's ``which`` pointer names; a run's output
    folder (``runs/<run-id>``, holding ``metrics.json``) stands for the checkpoint folder it names."""
    directory = Path(directory)
    if (directory / "metadata.json").is_file():
        return directory
    found = pointer(directory, which)
    if found is None and (directory / which).is_file():
        _dangling(directory, which)
    if found is None and (directory / "metrics.json").is_file():
        try:
            named = json.loads((directory / "metrics.json").read_text(encoding="utf-8")).get("checkpoint_dir")
        except (OSError, ValueError, AttributeError):
            named = None
        if isinstance(named, str) and is_run_dir(named):
            found = pointer(named, which)
            if found is None and (Path(named) / which).is_file():
                _dangling(Path(named), which)
    return found or directory


def _dangling(run_dir: Path, which: str) -> None:
    """Refuse a run folder whose ``which`` pointer names a checkpoint folder that is gone, naming it and the ones left."""
    try:
        target = (run_dir / which).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        target = "?"
    left = sorted(p.name for p in run_dir.iterdir() if (p / "metadata.json").is_file())
    others = f"give one of the checkpoints left instead ({', '.join(str(run_dir / n) for n in left[:4])})" if left else "no checkpoint is left"
    raise UserError(f"run folder {run_dir}: its '{which}' pointer names {target}/, which is missing (deleted or moved); "
                    f"{others}, or retrain")


def prune(run_dir: str | Path) -> None:
    """Remove checkpoint folders that neither pointer names (older epochs) and, when this process
    holds the run folder's lock, what a killed save left behind (staging folders)."""
    run_dir = Path(run_dir)
    keep = {p.name for p in (pointer(run_dir, n) for n in POINTERS) if p is not None}
    mine = holds_lock(run_dir)
    for child in run_dir.iterdir():
        if not child.is_dir() or child.name in keep:
            continue
        if child.name.startswith(("epoch-", "step-")) or (mine and is_leftover(child.name) and not is_staging(child)):
            shutil.rmtree(child, ignore_errors=True)


__all__ = ["create_run_dir", "is_run_dir", "pointer", "prune", "resolve_checkpoint", "set_pointer"]
