"""Freed host memory back to the operating system during training.

glibc keeps the pages of freed tensors in its heap. When a task's tensors change size from step to
step — the ``nca`` propagator's row path gathers a different number of cells at every lattice step —
the heap fragments, and a training process's resident memory creeps up by gigabytes over a few
hundred steps while its live tensors stay the same size. ``malloc_trim(0)`` returns the free pages;
it walks the heap, so the loop calls it after slow steps and at the end of each round only. Without glibc (macOS, musl) it does nothing.
"""
from __future__ import annotations

import ctypes
import functools
import sys
from collections.abc import Callable

SLOW_STEP_S = 1.0  # a step this long or longer is followed by a trim (the trim's cost is then < 1 %)


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None).malloc_trim  # the process's C library, if it is glibc
    except (OSError, AttributeError):
        return None


def release_freed_memory() -> bool:
    """Give the heap's free pages back to the OS; False where the C library cannot."""
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True


__all__ = ["SLOW_STEP_S", "release_freed_memory"]
