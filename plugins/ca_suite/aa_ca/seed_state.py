"""One seed's training state on disk, so that a long cells-table row survives an interruption.

A seed folder holds, after every evaluation round, a checkpoint of the model with the trainer's
state beside it (optimizer, schedule, RNG, best weights, the sample pool: :mod:`aa_core.train.state`)
and a ``last`` pointer; a rerun resumes from it with the result an uninterrupted run gives. When
the seed is done its result goes to ``result.json`` and the checkpoints are removed: a rerun then
returns that result without training. The folder is locked while a process trains in it.
"""
from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

RESULT = "result.json"


class SeedState:
    """The state folder of one seed (``DIR/seed-N``); :meth:`open` takes its lock."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self._lock: Any = None

    def open(self) -> SeedState:
        from aa_core.checkpoint import lock_run

        self.folder.mkdir(parents=True, exist_ok=True)
        self._lock = lock_run(self.folder, command="python -m aa_ca.cells_table")  # a second run of this seed refuses
        return self

    def close(self) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def finished(self) -> dict[str, Any] | None:
        """The seed's stored result, if it finished."""
        path = self.folder / RESULT
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None

    def resume_from(self, model: Any) -> tuple[Path | None, float]:
        """Load the last round's weights into ``model``; that checkpoint (for ``fit(resume=)``) and the
        CPU seconds spent before it, or (None, 0.0) on a fresh start."""
        from aa_core.checkpoint import load_checkpoint, load_weights, pointer, read_metadata

        last = pointer(self.folder, "last")
        if last is None:
            return None, 0.0
        load_weights(model, load_checkpoint(last).state_dict, where=str(last))
        return last, float(read_metadata(last).get("cpu_s", 0.0))

    def saver(self, model: Any, spec: Any, pool: Any, cpu_before: float) -> Callable[..., Any]:
        """``fit``'s ``save``: the core's per-round checkpoint (:func:`aa_core.train.round_saver`), with the
        CPU seconds spent so far (over every sitting) in its metadata."""
        from aa_core.train import round_saver

        c0 = time.process_time()
        return round_saver(self.folder, model, spec, pool=pool, mark_best=False,
                           metadata=lambda p: {"cpu_s": cpu_before + time.process_time() - c0, "history": p.history})

    def finish(self, result: dict[str, Any]) -> None:
        """Store the result (atomically) and drop the checkpoints."""
        from aa_core.checkpoint import prune
        from aa_core.plugin import atomic_path

        with atomic_path(self.folder / RESULT) as tmp:
            tmp.write_text(json.dumps(result, indent=1), encoding="utf-8")
        (self.folder / "last").unlink(missing_ok=True)
        prune(self.folder)  # no pointer left: every round's checkpoint goes
