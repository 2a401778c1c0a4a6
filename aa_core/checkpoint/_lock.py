"""One writer per run folder: an exclusive ``flock`` on ``<run>/.lock`` for as long as a run writes it.

A second ``aa run --resume`` of the same folder is refused (exit 2) naming the holder (pid, host,
start time, command). The kernel drops a ``flock`` when its holder dies, however it dies, so a
killed run never leaves a stale lock behind; the file itself stays (removing it would race
with the next taker).
"""
from __future__ import annotations

import fcntl
import json
import os
import socket
import sys
import time
from pathlib import Path
from typing import Any

from .._errors import UserError

LOCK_FILE = ".lock"
_held: dict[str, RunLock] = {}


class RunLock:
    """The held lock of a run folder; :meth:`release` (or leaving the ``with`` block, or exiting) frees it."""

    def __init__(self, run_dir: Path, fd: int, holder: dict[str, Any]):
        self.run_dir, self.fd, self.holder = run_dir, fd, holder

    def release(self) -> None:
        if self.fd < 0:
            return
        _held.pop(os.path.abspath(self.run_dir), None)
        os.close(self.fd)  # closing the only descriptor drops the flock
        self.fd = -1

    def __enter__(self) -> RunLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _describe(holder: dict[str, Any]) -> str:
    if not holder:
        return "another process (it has not recorded itself yet)"
    when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(holder.get("started", 0)))
    cmd = f" ({holder['command']})" if holder.get("command") else ""
    return f"pid {holder.get('pid')} on host {holder.get('host')}, started {when}{cmd}"


def _read_holder(fd: int) -> dict[str, Any]:
    for _ in range(20):  # the holder writes its record right after taking the lock
        try:
            data = json.loads(os.pread(fd, 65536, 0) or b"null")
        except (json.JSONDecodeError, UnicodeDecodeError):
            data = None
        if isinstance(data, dict):
            return data
        time.sleep(0.05)
    return {}


def lock_run(run_dir: str | Path, command: str | None = None) -> RunLock:
    """Take ``run_dir``'s lock or refuse (UserError) naming the process that holds it. Re-entrant
    within one process (a run resumed in the process that wrote it gets the lock it holds)."""
    run_dir = Path(run_dir)
    if os.path.abspath(run_dir) in _held:
        return _held[os.path.abspath(run_dir)]
    path = run_dir / LOCK_FILE
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        raise UserError(f"cannot lock the run folder {run_dir}: {path} cannot be opened ({exc.strerror}); "
                        "the run folder must be writable") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _read_holder(fd)
        os.close(fd)
        raise UserError(f"the run folder {run_dir} is in use by {_describe(holder)}: two runs writing one folder would "
                        "delete each other's checkpoints. Wait for that run to end (or stop it) and resume again") from None
    holder = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time(),
              "command": command if command is not None else " ".join(["aa", *sys.argv[1:]])}
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(holder).encode(), 0)
    except OSError:
        pass  # a full disk: the lock holds all the same, only the holder's description is missing
    lock = RunLock(run_dir, fd, holder)
    _held[os.path.abspath(run_dir)] = lock
    return lock


def holds_lock(run_dir: str | Path) -> bool:
    """Whether this process holds ``run_dir``'s lock."""
    return os.path.abspath(run_dir) in _held


__all__ = ["LOCK_FILE", "RunLock", "holds_lock", "lock_run"]
