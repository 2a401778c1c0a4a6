"""One trial: a normal ``aa run`` in its own process and folder; its report's numbers.

A trial never outlives its sweep: it runs in its own process group, which the sweep stops when it
stops (an exception, Ctrl-C, SIGTERM): SIGINT first, so that a training trial saves at its step
(exit 130), then SIGKILL for what is left after ``GRACE_S``; on Linux the kernel kills it when the
sweep dies outright (``prctl(PR_SET_PDEATHSIG, SIGKILL)``, set in the child before ``exec``). Its
folder records the process (``trial.json``: ``host:pid:start``), and a folder whose process is
alive is never deleted. A rerun of the sweep resumes a trial from its run folder's last
checkpoint (``aa run --resume``: the same weights as an uninterrupted trial), and takes a trial
that finished before the sweep could record it as it is.
"""
from __future__ import annotations

import ctypes
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from .claims import process_alive, process_id
from .results import outcome

RECORD = "trial.json"
PR_SET_PDEATHSIG = 1

GRACE_S = 60.0  # how long stopped trials get to save (SIGINT) before they are killed
STOP = threading.Event()  # set when the sweep stops: no trial starts after it
_lock = threading.Lock()
_running: dict[int, subprocess.Popen] = {}


class Stopped(Exception):
    """The sweep is stopping; the trial was not run (or was killed) and is not recorded."""


class Busy(Exception):
    """The trial's folder belongs to a live process (an orphan of a killed sweep)."""


def command(spec: str, overrides: list[str], folder: Path, resume: Path | None = None) -> list[str]:
    sets = [*overrides, f"run.output_dir={json.dumps(str(folder / 'runs'))}", f"run.checkpoint_dir={json.dumps(str(folder / 'checkpoints'))}"]
    return [sys.executable, "-m", "aa_core.cli", "run", spec, *[a for s in sets for a in ("--set", s)],
            *(["--resume", str(resume)] if resume is not None else [])]


def resumable(folder: Path, tests: bool = True) -> tuple[Path, list[str]] | None:
    """(run folder, extra overrides) to continue an interrupted trial: its training from the ``last``
    checkpoint, or — trained, but stopped before its test step — the test step alone; None for neither."""
    metrics = sorted(folder.glob("runs/*/metrics.json"))
    if metrics:
        try:
            record = json.loads(metrics[-1].read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        run = Path(record.get("checkpoint_dir") or "")
        return (run, ['run.tasks=["test"]']) if tests and "test" not in record and (run / "best").is_file() else None
    runs = sorted(p.parent for p in folder.glob("checkpoints/*/last"))
    return (runs[-1], []) if runs else None


def finished(folder: Path) -> bool:
    """The trial ran to the end (its tasks exited 0) but the sweep did not record it (killed meanwhile)."""
    try:
        return json.loads((folder / RECORD).read_text(encoding="utf-8")).get("returncode") == 0 and any(folder.glob("runs/*/metrics.json"))
    except (OSError, ValueError, AttributeError):
        return False


def _die_with_parent() -> Callable[[], None] | None:
    """A ``preexec_fn`` making the child get SIGKILL when the thread that started it dies (Linux).

    Everything is looked up before the fork, so the child only makes two system calls. PDEATHSIG
    follows the *thread* that forks: the sweep's worker thread, which waits for the trial."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    parent, sig = os.getpid(), int(signal.SIGKILL)

    def preexec() -> None:
        prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0)
        if os.getppid() != parent:  # the sweep died before the request took effect
            os.kill(os.getpid(), sig)

    return preexec


def stop_all(grace_s: float = GRACE_S) -> int:
    """Stop the sweep: no new trial starts; every running trial's process group gets SIGINT (a training
    trial saves at its step and exits 130), and whatever still runs after ``grace_s`` is killed.
    Returns how many were running."""
    with _lock:
        STOP.set()
        procs = list(_running.values())
    for proc in procs:
        try:
            os.killpg(proc.pid, signal.SIGINT)
        except (ProcessLookupError, PermissionError):
            pass
    end = time.monotonic() + grace_s
    for proc in procs:
        try:
            proc.wait(timeout=max(0.0, end - time.monotonic()))
        except subprocess.TimeoutExpired:
            pass
        _kill_group(proc)  # the trial's leftovers (and the trial, if it did not stop in time)
    return len(procs)


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # the trial leads its own group: it and anything it started
    except (ProcessLookupError, PermissionError):
        pass


def owner_of(folder: Path) -> str | None:
    """``host:pid:start`` of the live process that a trial folder belongs to, if any."""
    try:
        ident = json.loads((folder / RECORD).read_text(encoding="utf-8")).get("process")
    except (OSError, ValueError, AttributeError):
        return None
    return ident if isinstance(ident, str) and process_alive(ident) else None


def run(spec: str, overrides: list[str], folder: Path, timeout_s: float | None = None,
        started: Callable[[str], None] | None = None) -> dict:
    """Run the trial from scratch in ``folder`` (a leftover of a killed attempt is removed first,
    unless its process still lives: :class:`Busy`). ``started(process_id)`` is called once the
    trial process exists (the sweep records it in the claim).

    Returns ``{"ok", "returncode", "seconds", "log"}`` and what :func:`results.outcome` reads from the run folder
    (``metrics``, ``selected``, ``mode``, and with a report ``report``, ``systems``, ``paired``, ``params``).
    """
    if STOP.is_set():
        raise Stopped
    resume: Path | None = None
    if folder.exists():
        holder = owner_of(folder)
        if holder is not None:
            raise Busy(f"{folder} belongs to the live trial process {holder} (left running by a killed sweep); not deleted")
        if finished(folder):
            return {"ok": True, "returncode": 0, "seconds": 0.0, "log": str(folder / "log.txt"), **outcome(folder)}
        found = resumable(folder, tests=any(o.startswith("run.tasks=") and '"test"' in o for o in overrides))
        if found is None:
            shutil.rmtree(folder)
        else:
            resume, more = found
            overrides = [*overrides, *more]
    folder.mkdir(parents=True, exist_ok=True)
    log = folder / "log.txt"
    t0 = time.perf_counter()
    with open(log, "ab" if resume is not None else "wb") as out:
        if resume is not None:
            out.write(f"--- resumed from {resume} by the sweep ---\n".encode())
            out.flush()
        with _lock:
            if STOP.is_set():
                raise Stopped
            proc = subprocess.Popen(command(spec, overrides, folder, resume), stdout=out, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, process_group=0, preexec_fn=_die_with_parent())
            _running[proc.pid] = proc
        try:
            ident = process_id(proc.pid)
            (folder / RECORD).write_text(json.dumps({"process": ident, "sweep": process_id(), "resumed": resume is not None}) + "\n",
                                         encoding="utf-8")
            if started is not None:
                started(ident)
            rc = proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            proc.wait()
            rc = -1
        except BaseException:
            _kill_group(proc)
            proc.wait()
            raise
        finally:
            with _lock:
                _running.pop(proc.pid, None)
    if STOP.is_set():
        raise Stopped
    if rc == 0:  # recorded, so that a sweep killed before it stores the result takes the trial as it is
        record = json.loads((folder / RECORD).read_text(encoding="utf-8"))
        (folder / RECORD).write_text(json.dumps({**record, "returncode": 0}) + "\n", encoding="utf-8")
    result: dict = {"ok": False, "returncode": rc, "seconds": time.perf_counter() - t0, "log": str(log), "resumed": resume is not None}
    if rc == 0:
        result.update(outcome(folder))  # metrics.json of the train task, and the report when a task wrote one
    return result
