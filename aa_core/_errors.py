"""Errors the CLI turns into exit codes: bad input (2) versus everything else (1)."""
from __future__ import annotations

from typing import Any

import attrs


@attrs.frozen
class Problem:
    """One problem in a user's input, located by file and dotted key path."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class UserError(Exception):
    """Bad input (spec, arguments, files): reported without a traceback, exit code 2."""

    def __init__(self, message: str, problems: list[Problem] | None = None, source: str | None = None):
        self.problems = list(problems or [])
        self.source = source
        super().__init__(message)

    def __str__(self) -> str:
        return self.render()

    def __reduce__(self) -> tuple[type, tuple[Any, ...]]:
        """Picklable with its problems (e.g. sent from one torchrun rank to the others)."""
        return type(self), (str(self.args[0]), self.problems, self.source)

    def render(self) -> str:
        head = str(self.args[0])
        if self.source:
            head = f"{self.source}: {head}"
        lines = [head] + [f"  - {p}" for p in self.problems]
        return "\n".join(lines)


class SpecError(UserError):
    """A spec with one or more problems; all of them are collected before raising."""

    def __init__(self, problems: list[Problem], source: str | None = None):
        n = len(problems)
        super().__init__(f"{n} problem{'s' if n != 1 else ''} in spec", problems, source)

    def __reduce__(self) -> tuple[type, tuple[Any, ...]]:
        """Picklable as itself (the default would pass the summary line back in as ``problems``)."""
        return type(self), (self.problems, self.source)


class PluginError(UserError):
    """A plugin that cannot be loaded or that conflicts with another one."""


class RunInterrupted(Exception):
    """A run stopped on request (SIGINT/SIGTERM) after saving its state: no traceback, exit ``exit_code``."""

    def __init__(self, message: str, exit_code: int):
        super().__init__(message)
        self.exit_code = exit_code

    def __reduce__(self) -> tuple[type, tuple[str, int]]:
        """Picklable, so a worker process can raise it to the process that waits for its result."""
        return type(self), (str(self.args[0]), self.exit_code)
