"""The core's own spec section: ``[run]`` (what ``aa run`` does). Other sections come from plugins."""
from __future__ import annotations

import attrs

from ..validators import positive


@attrs.define
class RunConfig:
    """What `aa run` does with the assembled model, in order."""

    tasks: list[str] = attrs.field(factory=lambda: ["check"])  # names checked against the installed tasks
    ask: list[str] = attrs.field(factory=list)
    output_dir: str = "runs"
    checkpoint_dir: str = "checkpoints"
    resume: str | None = None  # a run folder (or checkpoint) to continue exactly where it stopped
    allow_change: list[str] = attrs.field(factory=list)  # spec keys a resume may change, e.g. ["train.epochs"]
    force: bool = False  # run even when the memory estimate exceeds the memory available
    seed: int = 0
    threads: int | None = attrs.field(default=None, validator=positive)
    progress: bool = True


CORE_SECTIONS: dict[str, type] = {"run": RunConfig}
