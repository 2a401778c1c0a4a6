"""A checkpoint's model for the tasks that follow no training (``run.resume``: evaluate, ask), and
whether the data are the ones it was trained on (``aa evaluate --checkpoint`` refuses other data)."""
from __future__ import annotations

from pathlib import Path

from aa_core.plugin import UserError
from aa_core.run import is_run_dir, load_checkpoint

from .answering import restore_for_answers
from .data import load_data, normalise
from .prep import load_data_once


def model_from_resume(spec, state: dict, check_data: bool = False) -> None:
    """Put the model, ctx and decoder of ``run.resume`` into ``state`` (evaluate/ask without train).

    ``check_data`` (evaluate): refuse data other than the checkpoint's unless run.allow_change has "data".
    """
    run = spec.sections["run"]
    if not run.resume:
        raise UserError("the evaluate task needs a trained model: put 'train' before 'evaluate' in run.tasks, or set run.resume = CHECKPOINT_DIR")
    ckpt = load_checkpoint(run.resume)
    state.setdefault("report_meta", {})["checkpoint"] = checkpoint_identity(ckpt)
    if check_data:  # evaluating: the data must be the checkpoint's, or the test split is not the held-out one
        change = data_change(ckpt, spec, load_data_once(spec, state), spec.sections["evaluate"].split)
        if change is not None and "data" not in run.allow_change:
            raise UserError(f"run.resume = {run.resume}: the data differ from the ones the checkpoint was trained on ("
                            + ("; ".join(change[0]) or "the data file(s) changed on disk") + "), so the evaluation's test split "
                            "would not be the run's held-out split. Use the checkpoint's data, or set run.allow_change = [\"data\"]")
        if change is not None:
            state["report_meta"]["data_changed"] = change[1]
    model, ctx, decoder = restore_for_answers(ckpt)
    state.update({"model": model, "ctx": ctx, "decoder": decoder, "history": ckpt.metadata.get("history", [])})


def checkpoint_identity(ckpt) -> dict[str, str]:
    """Which checkpoint a report evaluates: its run id, folder name, path and weights file sha256."""
    path = Path(ckpt.path).resolve()
    weights = ckpt.metadata.get("weights")
    return {"run_id": path.parent.name if is_run_dir(path.parent) else path.name, "name": path.name, "path": str(path),
            "weights_sha256": str(weights.get("sha256", "")) if isinstance(weights, dict) else ""}


def _data_keys(old: dict, new: dict) -> list[str]:
    """``data.KEY: old → new`` for each key of the [data] section that differs."""
    return [f"data.{k}: {old.get(k)!r} in the checkpoint, {new.get(k)!r} now" for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)]


def data_change(ckpt, spec, data, split: str) -> tuple[list[str], str] | None:
    """None when ``data`` is the data the checkpoint was trained on (same dataset hash, so the same split).

    Otherwise (the [data] keys that differ, a plain statement of what that means for the ``split``
    questions: how many of them the training run trained or validated on, when its split can be rebuilt).
    """
    recorded = ckpt.metadata.get("dataset_hash")
    if recorded == data.hash:
        return None
    old = ckpt.spec.resolved().get("data") or {}
    keys = _data_keys(old, spec.resolved().get("data") or {})
    where = "; ".join(keys) if keys else "no [data] key changed: the data file(s) changed on disk since training"
    statement = (f"The data differ from the training run's ({where}; dataset hash {str(recorded)[:12]} in the checkpoint, "
                 f"{data.hash[:12]} now), so this {split} split is not the one held out from training")
    seen = None
    if "data" in ckpt.spec.sections and recorded:
        try:
            original = load_data(ckpt.spec.sections["data"])
        except UserError:
            original = None
        if original is not None and original.hash == recorded:
            seen = {normalise(p.question) for p in original.train + original.validation}
    items = data.split(split)
    if seen is not None:
        n = sum(normalise(p.question) in seen for p in items)
        statement += (f": {n} of its {len(items)} questions were training or validation questions of that run. "
                      "These numbers are not comparable with the training run's report" + (" and overstate held-out quality." if n else "."))
    else:
        statement += ": the training run's split cannot be rebuilt, so how many of these questions the model was trained on is unknown."
    return keys, statement
