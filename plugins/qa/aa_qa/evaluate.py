"""The ``evaluate`` task: the model and every baseline on the held-out split, one report.

Its parts live below it: :mod:`aa_qa.scoring` (baselines, per-item metrics, summary, report
writing), :mod:`aa_qa.folds` (``evaluate.folds = k``), :mod:`aa_qa.generative` (text_to_text
models) and :mod:`aa_qa.resume` (a checkpoint's model, the data check); their names stay
importable from here.
"""
from __future__ import annotations

from pathlib import Path

from aa_core.plugin import UserError
from aa_core.run import apply_overrides, count_params, new_run_id, validate

from . import baselines as B
from .answering import restore_for_answers
from .data import normalise
from .folds import cross_validate
from .generative import evaluate_generated, roundtrip
from .objective import QAObjective
from .prep import load_data_once, predict, prepare
from .resume import checkpoint_identity, data_change, model_from_resume
from .scoring import fit_baselines, reconstruction, score, split_valid, summary, write_report
from .train import train_model

__all__ = ["checkpoint_identity", "data_change", "evaluate", "evaluate_checkpoint", "fit_baselines", "model_from_resume",
           "new_run_id", "predict", "prepare", "restore_for_answers", "run_task", "score", "split_valid", "summary", "train_model"]


def evaluate(spec, state: dict) -> Path:
    """Compute the report for ``state['model']`` (and the baselines); return the JSON's path."""
    ecfg, run = spec.sections["evaluate"], spec.sections["run"]
    if ecfg.folds > 1:
        return cross_validate(spec, state)
    if "model" not in state:
        model_from_resume(spec, state, check_data=True)
    data, emb = prepare(spec, state)
    model, decoder = state["model"], state.get("decoder")
    if getattr(model, "generative", False):  # text_to_text: generated answers beside the text baselines
        return evaluate_generated(spec, state, data, emb)
    split = ecfg.split
    (x, y), (qt, at) = emb["train"], emb[split]
    refs = [list(p.answers or (p.answer,)) for p in data.split(split)]
    answers = [r[0] for r in refs]
    lattice_params = count_params(model)
    meta: dict = {"spec": spec.source, "split": split, "dataset_hash": data.hash, "sizes": data.sizes(),
                  "lattice_params": lattice_params, "param_breakdown": B.param_breakdown(model),
                  "duplicates_removed": data.duplicates_removed, "overlap_removed": data.overlap_removed,
                  "multi_reference_items": sum(len(r) > 1 for r in refs), "bootstrap": ecfg.bootstrap,
                  "select_on": spec.sections["train"].select_on or _selection(state)}
    history = {"lattice": state.get("train_result", {}).get("history", state.get("history", []))}
    preds, bmeta, bhist = fit_baselines(spec, ecfg.baselines, emb["train"], emb["validation"], [p.answer for p in data.validation],
                                        qt, at, lattice_params, run.progress)
    preds = {"lattice": predict(model, qt), **preds}
    meta.update(bmeta)
    history.update(bhist)
    valid, invalid = split_valid(preds)
    items, totals, bleu_sig = score(valid, at, y.mean(0), refs, decoder)
    systems, paired_out = summary(items, totals, ecfg.bootstrap, ecfg.seed, invalid=invalid, order=list(preds))
    oracle = bool(getattr(decoder, "oracle", False))
    if decoder is not None and hasattr(decoder, "texts"):
        # A bank from a user phrase file may hold test answers that no training answer equals.
        bank, train_answers = {normalise(t) for t in decoder.texts}, {normalise(p.answer) for p in data.train}
        leaked = {normalise(a) for a in answers} & bank - train_answers
        meta["bank_test_answers_not_in_train"] = len(leaked)
        oracle = oracle or bool(leaked)
    n_bank = len(decoder) if decoder is not None and hasattr(decoder, "__len__") else 0
    meta["decoder"] = ("ORACLE phrase bank (contains test answers)" if oracle else f"phrase bank of {n_bank} training answers") if decoder is not None else "none"
    meta["oracle"] = oracle
    meta["bleu_signature"] = bleu_sig
    if decoder is not None and hasattr(decoder, "generate"):  # embedding → text decoder: reconstruction of held-out texts
        meta["decoder"] = "generative decoder pre-trained on training questions and answers (new text, no bank)"
        meta["roundtrip"] = roundtrip(decoder, state["ctx"].tokenizer, [p.question for p in data.split(split)] + answers)
    meta["reconstruction_error"] = reconstruction(model, x[:2000], qt)
    if oracle:
        meta["note"] = "text metrics are oracle: the phrase bank contains test answers"
    report = {"systems": systems, "paired": paired_out, "meta": meta, "history": history}
    return write_report(spec, state, report)


def _selection(state: dict) -> str:
    """The metric the trained model was selected on by default: its objective's (the train task's), else the ``qa`` objective's."""
    objective = state.get("objective")
    return str(objective.selection[0]) if objective is not None else QAObjective.selection[0]


def run_task(spec, state: dict) -> None:
    evaluate(spec, state)


def evaluate_checkpoint(ckpt, overrides: list[str] | None = None, allow_change: list[str] | None = None) -> Path:
    """``aa evaluate --checkpoint DIR``: rebuild model and phrase bank from a checkpoint, write a report
    to a new folder of its own that names the checkpoint.

    A ``--set`` (or a changed file on disk) that changes the data (dataset hash: the pairs and their
    split) is refused unless ``allow_change`` holds ``"data"``; the report then says in plain words
    that its test split is not the training run's.
    """
    allow_change = list(allow_change or [])
    for key in allow_change:
        if key != "data":
            raise UserError(f"--allow-change {key}: aa evaluate can allow only 'data' (a re-split or other data); "
                            "the model is the checkpoint's and [train] does not apply to an evaluation")
    spec = validate(apply_overrides(ckpt.spec.resolved(), overrides or []), str(ckpt.path)) if overrides else ckpt.spec
    if "data" not in spec.sections:
        raise UserError(f"checkpoint {ckpt.path} has no [data] section to evaluate on; pass --set data.path=FILE --allow-change data")
    identity = checkpoint_identity(ckpt)
    state: dict = {"history": ckpt.metadata.get("history", []), "run_id": f"eval-{identity['run_id']}-{identity['name']}",
                   "report_meta": {"checkpoint": identity}, "own_report_folder": True}
    split = spec.sections["evaluate"].split
    change = data_change(ckpt, spec, load_data_once(spec, state), split)  # before the model is built or anything embedded
    if change is not None:
        keys, statement = change
        if "data" not in allow_change:
            named = ("; ".join(keys) + ". ") if keys else "no [data] key changed, but the data file(s) did since training. "
            raise UserError(f"aa evaluate --checkpoint {ckpt.path}: the data differ from the ones the checkpoint was trained on "
                            f"(dataset hash {str(ckpt.metadata.get('dataset_hash'))[:12]} recorded, {state['data'].hash[:12]} now): "
                            f"{named}The {split} split would not be the run's held-out split and could hold training questions. "
                            "Drop the data change, or add --allow-change data to evaluate on these data anyway (the report then says so)")
        state["report_meta"]["data_changed"] = statement
    model, ctx, decoder = restore_for_answers(ckpt)
    state.update({"model": model, "ctx": ctx, "decoder": decoder})
    return evaluate(spec, state)
