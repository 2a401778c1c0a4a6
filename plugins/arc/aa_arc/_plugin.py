"""Hook implementations (torch-free): the ``arc`` task and its ``[arc]`` spec section."""
from __future__ import annotations

from aa_core.plugin import Section, Task, hookimpl

from .config import ArcConfig


@hookimpl
def aa_tasks() -> list[Task]:
    return [Task("arc", "aa_arc.task:run_task",
                 "ARC-AGI: an NCA per task trained on its demonstration pairs, pass@2 exact match, resumable",
                 needs=("arc",), sections=("arc",))]


@hookimpl
def aa_spec_sections() -> list[Section]:
    return [Section("arc", ArcConfig, "the ARC-AGI split, the per-task NCA and its training budget", optional=True)]
