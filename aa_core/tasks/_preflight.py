"""What is checked before any task starts work: output folders writable, memory estimates within
what is available. Nothing is created on disk here."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .._errors import Problem, UserError
from ..assemble import ADVICE, MEMORY_MARGIN, available_bytes, build_model, fits, human_bytes
from ..host import host, resolve
from ..spec import Spec


def folder_problem(key: str, folder: str) -> Problem | None:
    """Why ``folder`` could not be created or written to (without creating it), or None."""
    p = Path(folder).absolute()
    for ancestor in (p, *p.parents):
        if ancestor.exists():
            if not ancestor.is_dir():
                return Problem(key, f"{ancestor} is a file, so {p} cannot be a folder; point {key} at a folder")
            if not os.access(ancestor, os.W_OK | os.X_OK):
                return Problem(key, f"{ancestor} is not writable; point {key} at a writable folder")
            return None
    return None


def memory_estimates(spec: Spec, tasks: list[str]) -> dict[str, int]:
    """task → estimated peak bytes, for the tasks that provide an estimate (model built on the meta device)."""
    providers = host().tasks()
    wanted: dict[str, Any] = {}
    for t in tasks:
        fn = providers[t][0].memory if t in providers else None
        if fn is not None:
            wanted[t] = fn
    if not wanted:
        return {}
    model, ctx = build_model(spec, meta=True)
    return {t: int(resolve(fn)(spec, model, ctx)) for t, fn in wanted.items()}


def memory_problems(estimates: dict[str, int], available: int) -> list[Problem]:
    return [Problem(f"run.tasks ({task})", f"needs about {human_bytes(need)}, more than {MEMORY_MARGIN:.0%} of the "
                                           f"{human_bytes(available)} available (the estimate is within about 25 %); {ADVICE}")
            for task, need in estimates.items() if not fits(need, available)]


def preflight(spec: Spec) -> None:
    """Refuse (UserError, exit 2) a run that cannot write its outputs or whose tasks cannot fit in memory."""
    run = spec.sections["run"]
    problems = [p for p in (folder_problem("run.output_dir", run.output_dir), folder_problem("run.checkpoint_dir", run.checkpoint_dir)) if p]
    if not run.force:
        problems += memory_problems(memory_estimates(spec, run.tasks), available_bytes())
    if problems:
        raise UserError(f"{spec.source}: this run cannot start", problems)


def describe_memory(spec: Spec, model: Any, ctx: Any) -> list[str]:
    """Lines for `aa check`: each task's estimate beside the memory available."""
    del model, ctx
    run = spec.sections.get("run")
    estimates = memory_estimates(spec, [t for t in run.tasks if t != "check"]) if run else {}
    avail = available_bytes()
    return [f"estimated peak memory for {task}: {human_bytes(need)} (available: {human_bytes(avail)})" for task, need in estimates.items()]
