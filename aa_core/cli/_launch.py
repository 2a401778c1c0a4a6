"""`aa run --nproc N`: torchrun started so that no process outlives the command, and signals reach the ranks.

The launcher (:func:`launch`) starts torchrun in a process group of its own that gets SIGKILL when
the launcher dies (Linux ``PR_SET_PDEATHSIG``, e.g. after ``kill -9``); SIGINT/SIGTERM sent to the
launcher are forwarded to torchrun, which forwards them to the ranks: each rank saves at its step
(rank 0 writes the checkpoint) and the launcher exits 130/143 once they have. Torchrun runs through
this module (``python -m aa_core.cli._launch ARGS``, :func:`torchrun`), which turns its outcome into
the ranks' exit code instead of a traceback, and tells the ranks its pid: each rank dies with it
(:func:`die_with_launcher`, called first thing by ``aa``).
"""
from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
from collections.abc import Callable

PR_SET_PDEATHSIG = 1
PARENT_ENV = "AA_TORCHRUN_PID"  # set by torchrun(): the pid every rank dies with
FORWARDED = {signal.SIGINT: 130, signal.SIGTERM: 143}
QUIET_CODES = frozenset({2, *FORWARDED.values()})  # the ranks said why themselves (a UserError, an interrupt)


def _prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        fn = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    return fn


def die_with_parent_preexec() -> Callable[[], None] | None:
    """A ``preexec_fn`` that makes the child get SIGKILL when the thread starting it dies (Linux; None elsewhere).
    Everything is looked up before the fork: the child makes two system calls."""
    prctl = _prctl()
    if prctl is None:
        return None
    parent, sig = os.getpid(), int(signal.SIGKILL)

    def preexec() -> None:
        prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before the request took effect
            os.kill(os.getpid(), sig)

    return preexec


def die_with_launcher() -> None:
    """In a torchrun rank: get SIGKILL when torchrun dies, so that no rank trains on as an orphan (torchrun
    starts each rank in a session of its own and kills none of them when it is killed itself)."""
    if not os.environ.get("TORCHELASTIC_RUN_ID") or "WORLD_SIZE" not in os.environ:
        return
    prctl = _prctl()
    if prctl is None:
        return
    prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    expected = os.environ.pop(PARENT_ENV, "")  # not inherited by what this rank starts
    ppid = os.getppid()
    if (expected.isdigit() and ppid != int(expected)) or ppid == 1:  # torchrun died before the request took effect
        os.kill(os.getpid(), signal.SIGKILL)


def torchrun_command(nproc: int, aa_args: list[str]) -> list[str]:
    """The command that runs ``aa AA_ARGS`` on ``nproc`` processes of this machine under torchrun."""
    return [sys.executable, "-m", "aa_core.cli._launch", "--standalone", "--nproc-per-node", str(nproc), "-m", "aa_core.cli", *aa_args]


def launch(cmd: list[str]) -> int:
    """Run ``cmd`` (:func:`torchrun_command`) to its end and return its exit code; a SIGINT/SIGTERM is
    forwarded to it and, once it has stopped, makes the exit code 130/143."""
    proc = subprocess.Popen(cmd, process_group=0, preexec_fn=die_with_parent_preexec())
    got: list[int] = []

    def forward(signum: int, _frame: object) -> None:
        got.append(signum)
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signum)

    old = {sig: signal.signal(sig, forward) for sig in FORWARDED}
    try:
        rc = proc.wait()
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
    if not got and rc < 0:
        print(f"aa run: torchrun was killed by {signal.Signals(-rc).name}; the training processes died with it", file=sys.stderr)
        return 128 - rc
    if not got:
        return rc
    code = FORWARDED[signal.Signals(got[0])]
    if rc != code:
        print(f"aa run: {signal.Signals(got[0]).name} received; the training processes stopped (exit {rc}) before they could "
              "save (a run folder without a checkpoint starts again from the beginning with --resume)", file=sys.stderr)
    return code


def torchrun(argv: list[str]) -> int:
    """torch.distributed.run with ``argv``; its outcome as an exit code: 128 + the signal that stopped it, the
    ranks' code when they said why themselves (2, 130, 143), else 1 with one line naming the failed rank."""
    os.environ[PARENT_ENV] = str(os.getpid())
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import main

    try:
        main(argv)
    except SignalException as exc:
        return 128 + int(exc.sigval)
    except ChildFailedError as exc:
        rank, failure = exc.get_first_failure()
        if failure.exitcode in QUIET_CODES:
            return int(failure.exitcode)
        how = f"was killed by signal {-failure.exitcode}" if failure.exitcode < 0 else f"exited with code {failure.exitcode}"
        print(f"aa run: rank {rank} (pid {failure.pid}) {how}; its messages above say why", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(torchrun(sys.argv[1:]))
