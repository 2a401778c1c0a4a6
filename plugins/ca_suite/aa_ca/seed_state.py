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

    def saver(self, model: Any, spec: Any, pool: Any, cpu_before: float) -> Callable[..., None]:
        """``fit``'s ``save``: a checkpoint with the training state per round (and at SIGINT/SIGTERM)."""
        from aa_core.checkpoint import prune, save_checkpoint, set_pointer
        from aa_core.train.state import save as save_training_state

        c0 = time.process_time()

        def save(p: Any, kind: str, improved: bool, opt: Any, sched: Any, gen: Any) -> None:
            name = f"epoch-{p.epoch:04d}" if kind == "epoch" else f"step-{p.epoch + 1:04d}-{p.batch:05d}"  # prune's names
            save_checkpoint(self.folder / name, model=model, spec=spec,
                            metadata={"cpu_s": cpu_before + time.process_time() - c0, "history": p.history},
                            beside=lambda d: save_training_state(d, p, opt, sched, gen, pool.state_tensors() if pool else None))
            set_pointer(self.folder, "last", name)
            prune(self.folder)

        return save

    def finish(self, result: dict[str, Any]) -> None:
        """Store the result (atomically) and drop the checkpoints."""
        from aa_core.checkpoint import prune
        from aa_core.plugin import atomic_path

        with atomic_path(self.folder / RESULT) as tmp:
            tmp.write_text(json.dumps(result, indent=1), encoding="utf-8")
        (self.folder / "last").unlink(missing_ok=True)
        prune(self.folder)  # no pointer left: every round's checkpoint goes
