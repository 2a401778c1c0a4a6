"""Stop requests: SIGINT/SIGTERM set a flag; the loop finishes its step, saves and stops (main thread only)."""
from __future__ import annotations

import signal
import threading
from typing import Any

EXIT_CODES: dict[int, int] = {signal.SIGINT: 130, signal.SIGTERM: 143}  # the shell's exit codes for them


class StopRequest:
    """Installed for the length of a training run; a second signal stops at once (KeyboardInterrupt)."""

    def __init__(self, enabled: bool):
        self.signum: int | None = None
        self._old: dict[int, Any] = {}
        if enabled and threading.current_thread() is threading.main_thread():
            for sig in EXIT_CODES:
                self._old[sig] = signal.signal(sig, self._handle)

    def _handle(self, signum: int, _frame: Any) -> None:
        if self.signum is not None:
            raise KeyboardInterrupt
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return 143 if self.signum is None else EXIT_CODES[self.signum]

    def restore(self) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)
