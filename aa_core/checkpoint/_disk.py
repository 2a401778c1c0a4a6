"""Checkpoint folders written whole or not at all, and a full disk reported as a user's problem.

:func:`checkpoint_folder` stages a folder beside its final place and switches it in atomically
(``renameat2(RENAME_EXCHANGE)`` when a folder of that name exists, e.g. ``final/`` rewritten
after extending a run), so a kill at any moment leaves the old checkpoint or the new one,
complete. A write that fails for want of space (or permission) removes the staged folder and
raises :class:`UserError` saying how much space there is and how much is needed.
:func:`require_free_space` refuses before training starts; :func:`checkpoint_bytes` estimates
one checkpoint's size. :func:`write_files_or_elsewhere` keeps a finished report when its own
folder cannot take it.
"""
from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import re
import secrets
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from .._errors import UserError

POINTERS = ("best", "last")  # a run folder's pointer files (._runs)


def is_run_dir(directory: str | Path) -> bool:
    """A run folder: it holds a ``best`` or ``last`` pointer file."""
    return any((Path(directory) / n).is_file() for n in POINTERS)

STAGING_SUFFIX = ".staging"  # .<name>.<random>.staging: a folder being written
OLD_SUFFIX = ".old"  # .<name>.<random>.old: a replaced folder being removed
MiB = 1 << 20

_FULL = (errno.ENOSPC, errno.EDQUOT)
_REFUSED = (errno.EACCES, errno.EPERM, errno.EROFS)
_DISK_ERRNOS = (*_FULL, *_REFUSED, errno.EIO, errno.EFBIG)

_staging: set[str] = set()  # this process's staging folders (save_checkpoint writes straight into one)


def free_bytes(folder: str | Path) -> int:
    """Bytes an unprivileged writer can still use on the file system holding ``folder`` (or its
    nearest existing parent)."""
    p = Path(folder).absolute()
    while not p.exists() and p != p.parent:
        p = p.parent
    return shutil.disk_usage(p).free


def _mib(n: float) -> str:
    return f"{n / MiB:.2f}" if n < MiB else f"{n / MiB:,.1f}" if n < 10 * MiB else f"{n / MiB:,.0f}"


def disk_full_message(folder: str | Path, need: int | None, key: str, what: str = "a checkpoint") -> str:
    free = free_bytes(folder)
    needs = f", {what} needs about {_mib(need)} MiB" if need else ""
    return f"the disk holding {folder} is full: {_mib(free)} MiB free{needs}; free space or point {key} elsewhere"


def require_free_space(folder: str | Path, nbytes: int, key: str = "run.checkpoint_dir", what: str = "a checkpoint") -> int:
    """Refuse (UserError, exit 2) before any work when ``folder``'s disk has less than ``nbytes`` free.
    Returns the free bytes."""
    free = free_bytes(folder)
    if free < nbytes:
        raise UserError(disk_full_message(folder, nbytes, key, what) + " (checked before training started)")
    return free


JSON_BYTES = 8 * 1024  # metadata.json (the resolved spec, provenance, a few rounds of history) and extra.json
TRAIN_JSON_BYTES = 4 * 1024  # train_state.json (positions, history, scheduler, optimizer scalars)
HEADER_BYTES = 64  # a safetensors header entry besides the tensor's name: dtype, shape, offsets


def _stored(tensors: Iterable[tuple[str, Any]], prefix: str = "") -> int:
    """Bytes of ``(name, tensor)`` pairs in a safetensors file: their data and their header entries."""
    return sum(int(getattr(t, "nbytes", 0)) + len(prefix) + len(name) + HEADER_BYTES for name, t in tensors)


def checkpoint_bytes(model: Any, extra_tensors: dict[str, Any] | None = None, *, optimizer_slots: int = 2,
                     examples: int = 0, training_state: bool = True, state_tensors: dict[str, Any] | None = None) -> int:
    """Estimated bytes of one checkpoint folder written during training, measured from the state it holds:
    the weights file (the model's parameters and buffers, components' ``extra_tensors``), plus the training
    state beside it: ``optimizer_slots`` tensors per trainable parameter (AdamW's two moments) and its step
    counters, the best-so-far copy of the weights, the RNG states, the epoch's shuffle order of ``examples``
    and a dataset's ``state_tensors`` (a sample pool's, :class:`~aa_core.protocols.SampledDataset`); plus
    the JSON files. ``training_state=False``: a finished checkpoint (``final/``)."""
    import torch

    state = model.state_dict()
    total = _stored(state.items()) + _stored((extra_tensors or {}).items(), "extra/") + JSON_BYTES
    if training_state:
        params = [p for p in model.parameters() if p.requires_grad]
        total += sum(optimizer_slots * p.nbytes + (optimizer_slots + 1) * HEADER_BYTES + 16 for p in params)  # opt.<i>.<slot>, step
        total += _stored(state.items(), "best.")
        rng = torch.get_rng_state().nbytes + torch.Generator().get_state().nbytes
        total += rng + 8 * examples + 3 * HEADER_BYTES + _stored((state_tensors or {}).items(), "extra.") + TRAIN_JSON_BYTES
    return int(total)


def disk_errno(exc: BaseException) -> int | None:
    """The errno of a failed write when it is the disk's fault (full, read-only, no permission, I/O),
    also from safetensors, which reports ``... (os error 28)`` without an errno."""
    code = exc.errno if isinstance(exc, OSError) else None
    if code is None and type(exc).__name__ == "SafetensorError":
        m = re.search(r"os error (\d+)", str(exc))
        code = int(m.group(1)) if m else None
    return code if code in _DISK_ERRNOS else None


def disk_error(exc: BaseException, folder: Path, need: int | None, key: str, what: str = "a checkpoint") -> UserError | None:
    """A UserError for a write that failed because of the disk (None for any other failure)."""
    code = disk_errno(exc)
    if code is None:
        return None
    if code in _FULL:
        msg = disk_full_message(folder, need, key, what)
    else:
        msg = f"cannot write {what} in {folder}: {os.strerror(code)}; point {key} at a writable folder"
    return UserError(msg)


def _key(path: Path) -> str:
    return os.path.abspath(path)


def is_staging(path: str | Path) -> bool:
    """Whether ``path`` is a staging folder this process is writing (see :func:`checkpoint_folder`)."""
    return _key(Path(path)) in _staging


def is_leftover(name: str) -> bool:
    """A staging or replaced folder's name (what a killed save leaves behind)."""
    return name.startswith(".") and name.endswith((STAGING_SUFFIX, OLD_SUFFIX))


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically (Linux ``renameat2(RENAME_EXCHANGE)``); False where unsupported."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return False
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    at_fdcwd, rename_exchange = -100, 2
    if fn(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP):  # a file system without it (e.g. some network ones)
        return False
    raise OSError(code, os.strerror(code), str(b))


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def replace_folder(src: Path, dst: Path) -> None:
    """Put the complete folder ``src`` at ``dst``: a reader sees the old ``dst`` or the new one.

    Where the file system cannot exchange two names atomically, ``dst`` is moved aside to
    ``.<name>.<random>.old`` for the instant between two renames; :func:`..pointer` follows it.
    """
    try:
        os.rename(src, dst)  # dst absent or an empty folder: one atomic rename
    except OSError as exc:
        if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY):
            raise
        if _exchange(src, dst):
            shutil.rmtree(src, ignore_errors=True)  # src now holds the old folder
        else:
            old = dst.with_name(f".{dst.name}.{secrets.token_hex(4)}{OLD_SUFFIX}")
            os.rename(dst, old)
            os.rename(src, dst)
            shutil.rmtree(old, ignore_errors=True)
    _fsync_dir(dst.parent)


@contextlib.contextmanager
def checkpoint_folder(path: str | Path, *, need_bytes: int | None = None, key: str = "run.checkpoint_dir",
                      what: str = "a checkpoint") -> Iterator[Path]:
    """Yield an empty staging folder beside ``path``; when the block ends, the folder replaces
    ``path`` atomically (an existing ``path`` is exchanged whole, then removed).

    If the block fails, the staging folder is removed and ``path`` is untouched; a failure caused
    by the disk (full, quota, read-only, permission, I/O) becomes a UserError naming the folder,
    the free space, ``need_bytes`` and the spec ``key`` to change.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=STAGING_SUFFIX, dir=path.parent))
        os.chmod(tmp, 0o755)  # mkdtemp makes it 0700; checkpoints are meant to be shared
    except OSError as exc:
        err = disk_error(exc, path.parent, need_bytes, key, what)
        if err is None:
            raise
        raise err from None
    _staging.add(_key(tmp))
    try:
        yield tmp
        replace_folder(tmp, path)
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        err = disk_error(exc, path.parent, need_bytes, key, what)
        if err is None:
            raise
        if is_run_dir(path.parent):
            err.args = (f"{err.args[0]}. The partial {path.name} was removed; the run folder's last complete checkpoint "
                        f"is intact (continue with --resume {path.parent} once there is space)",)
        else:
            err.args = (f"{err.args[0]}. The partial {path.name} was removed",)
        raise err from None
    finally:
        _staging.discard(_key(tmp))


def write_files_or_elsewhere(folder: str | Path, write: Callable[[Path], dict[str, Path]], *, key: str,
                             what: str = "the report", elsewhere: Iterable[str | Path | None] = (),
                             dump: Callable[[], str] | None = None) -> dict[str, Path]:
    """Run ``write(staging) -> {name: path}`` into a staging folder beside ``folder``, then move its
    files into ``folder`` (each atomically, no new space needed); returns the moved paths.

    When the disk holding ``folder`` cannot take them, nothing half-written stays there: the same
    files are written into the first folder of ``elsewhere`` (then a new folder in the system's
    temporary folder) that can take them, and a UserError (exit 2) says where they are and what to
    fix. When no place can, ``dump()`` (e.g. the report's JSON) is printed to stderr.
    """
    folder = Path(folder)
    first: UserError | None = None
    for place in [folder, *(Path(p) for p in elsewhere if p), None]:
        stage: Path | None = None
        try:
            if place is None:  # last resort: a new folder in the system's temporary folder
                place = Path(tempfile.mkdtemp(prefix=f"aa-{folder.name}-"))
            place.parent.mkdir(parents=True, exist_ok=True)
            stage = Path(tempfile.mkdtemp(prefix=f".{place.name}.", suffix=STAGING_SUFFIX, dir=place.parent))
            paths = write(stage)
            place.mkdir(parents=True, exist_ok=True)
            out = {}
            for name, p in paths.items():
                out[name] = place / Path(p).relative_to(stage)
                os.replace(p, out[name])
        except Exception as exc:  # noqa: BLE001 - a disk failure tries the next place; anything else is raised
            err = disk_error(exc, folder if first is None else place or folder, None, key, what)
            if err is None:
                raise
            first = first or err
            continue
        finally:
            if stage is not None:
                shutil.rmtree(stage, ignore_errors=True)
        if place == folder:
            return out
        _fsync_dir(place)
        raise UserError(f"{first}. Nothing was lost: {what} was written to {place} instead ({', '.join(p.name for p in out.values())})")
    if dump is not None:
        print(dump(), file=sys.stderr, flush=True)
    raise UserError(f"{first}; no other folder could take {what} either"
                    + ("; it was printed above (stderr) instead" if dump is not None else ""))
