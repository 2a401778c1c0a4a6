"""The core's ``test`` task: the selected checkpoint scored once on the test split.

``[run] tasks = ["train", "test"]``: after training, the objective's ``test_metrics`` of the
selected round's weights (what ``train`` leaves in the state) on the dataset's test split go into
``runs/<run-id>/metrics.json`` under ``test``. ``tasks = ["test"]`` with ``run.resume`` pointing at
a finished run (or a checkpoint) scores that run's ``best`` checkpoint, with the dataset and
objective of its saved spec. The test split is read once per run: a run whose metrics already hold
``test`` is refused (exit 2), so a configuration is never picked by looking at test figures and
then scored again. A run whose training skipped non-finite batches has its test figures marked
``valid: false``.
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from .._errors import UserError
from ..protocols import FittedDataset
from . import distributed


def _from_checkpoint(spec: Any, state: dict[str, Any]) -> None:
    """Model, dataset, objective and run id of the finished run that ``run.resume`` names."""
    from ..checkpoint import is_run_dir, resolve_checkpoint, restore
    from .task import build_objective

    where = spec.sections["run"].resume
    if not where:
        raise UserError(f"{spec.source}: the test task needs a trained model: run it after train "
                        '([run] tasks = ["train", "test"]) or name a finished run with --resume RUN_DIR (run.resume)')
    path = resolve_checkpoint(where, "best")
    if not (path / "metadata.json").is_file():
        raise UserError(f"run.resume = {where}: no checkpoint there (a run folder with a 'best' pointer, or a checkpoint folder)")
    restored = restore(path)
    ctx = restored.ctx
    dataset = ctx.build("dataset")
    if isinstance(dataset, FittedDataset):
        dataset.setup(restored.model, ctx)
    state.update(model=restored.model, ctx=ctx, dataset=dataset, objective=build_objective(ctx.spec, ctx, restored.model, dataset),
                 run_id=(path.parent if is_run_dir(path.parent) else path).name, checkpoint=path)


def run_task(spec: Any, state: dict[str, Any]) -> None:
    if not distributed.is_main():
        return
    if "model" not in state or "objective" not in state:
        _from_checkpoint(spec, state)
    dataset, objective, model = state["dataset"], state["objective"], state["model"]
    n = dataset.sizes().get("test", 0)
    if n == 0:
        raise UserError(f"{spec.source}: the dataset has no test split (sizes: {dataset.sizes()}); give it one to run the test task")
    folder = Path(spec.sections["run"].output_dir) / state["run_id"]
    path = folder / "metrics.json"
    record = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {"run_id": state["run_id"]}
    if "test" in record:
        raise UserError(f"{path} already holds this run's test figures: the test split is read once per run (selection "
                        "happens on validation). Train a new run to test again, or delete 'test' from the file on purpose")
    t0 = time.perf_counter()
    model.eval()
    metrics = objective.test_metrics(model, dataset)
    skipped = (state.get("train_result") or {}).get("skipped_batches") or record.get("skipped_batches") or 0
    record["test"] = metrics
    record["test_info"] = {"examples": n, "time_s": round(time.perf_counter() - t0, 3), "valid": not skipped,
                           **({"why_invalid": f"training skipped {skipped} non-finite batches (train.nonfinite = \"skip\")"} if skipped else {})}
    from .._fs import write_json
    from ..checkpoint import write_files_or_elsewhere
    from .task import metrics_record

    write_files_or_elsewhere(folder, lambda stage: {"metrics": write_json(stage / "metrics.json", metrics_record(record))},
                             key="run.output_dir", what="the metrics file")
    shown = ", ".join(f"{k} {v:.4f}" for k, v in metrics.items() if isinstance(v, float))
    print(f"test ({n} examples, read once): {shown}{'' if not skipped else ' — INVALID: training skipped non-finite batches'}", flush=True)
    state["test_metrics"] = metrics
