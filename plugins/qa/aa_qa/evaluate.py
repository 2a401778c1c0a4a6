"""The ``evaluate`` task: the model and every baseline on the held-out split, one report."""
from __future__ import annotations

import math
import time
from pathlib import Path

import attrs
import numpy as np
import torch
import torch.nn.functional as F

from aa_core.plugin import UserError
from aa_core.protocols import RetrievalDecoder

from . import baselines as B
from . import report as R
from .ask import restore_for_answers
from .dataset import QAPairs
from .metrics import embedding_items, gold_sets, nonfinite_reason, summarise, text_metrics
from .stats import paired, resample_indices
from .train import new_run_id, predict, prepare, train_model


def model_from_resume(spec, state: dict, check_data: bool = False) -> None:
    """Put the model, ctx and decoder of ``run.resume`` into ``state`` (evaluate/ask without train).

    ``check_data`` (evaluate): refuse data other than the checkpoint's unless run.allow_change has "data".
    """
    run = spec.sections["run"]
    if not run.resume:
        raise UserError("the evaluate task needs a trained model: put 'train' before 'evaluate' in run.tasks, or set run.resume = CHECKPOINT_DIR")
    from aa_core.checkpoint import load_checkpoint

    from .train import load_data_once

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


@torch.no_grad()
def _reconstruction(model, x_fit: torch.Tensor, x_eval: torch.Tensor) -> dict[str, float | str]:
    """Relative reconstruction error of each adapter that reports one, on the inputs it really sees."""
    adapters = {n: m for n, m in model.named_modules() if hasattr(m, "reconstruction_error") and n}
    if not adapters:
        return {}
    seen: dict[str, list[torch.Tensor]] = {}
    hooks = [m.register_forward_pre_hook(lambda mod, args, n=n: seen.setdefault(n, []).append(args[0])) for n, m in adapters.items()]
    try:
        predict(model, x_fit)
        fit = {n: torch.cat(v) for n, v in seen.items()}
        seen.clear()
        predict(model, x_eval)
        ev = {n: torch.cat(v) for n, v in seen.items()}
    finally:
        for h in hooks:
            h.remove()
    out: dict[str, float | str] = {}
    for n in adapters:
        if n in ev:
            err = float(adapters[n].reconstruction_error(ev[n], x_fit=fit[n]))
            out[n] = round(err, 6) if math.isfinite(err) else "not finite"
    return out


def fit_baselines(spec, names: list[str], emb_train, emb_val, val_answers: list[str], qt: torch.Tensor, at: torch.Tensor,
                  lattice_params: int, progress: bool) -> tuple[dict[str, torch.Tensor], dict, dict]:
    """Test predictions of each named baseline, fitted on train (validation for choices and early stopping).

    Returns (predictions, meta entries, training histories). Trained baselines use the spec's
    ``[train]`` settings and the same loop as the model.
    """
    from aa_core.assemble import count_params

    ecfg, tcfg = spec.sections["evaluate"], spec.sections["train"]
    (x, y), (xv, yv) = emb_train, emb_val
    preds: dict[str, torch.Tensor] = {}
    meta: dict = {}
    history: dict = {}
    for name in names:
        if name == "random":
            preds[name] = B.random_pairs(at, ecfg.seed)
        elif name == "mean_answer":
            preds[name] = B.mean_answer(y, len(qt))
        elif name == "identity":
            preds[name] = qt.clone()
        elif name == "identity_offset":
            preds[name] = B.identity_offset(x, y, qt)
        elif name == "ridge":
            preds[name], info = B.ridge(x, y, xv, yv, qt, ecfg.ridge_lambdas)
            meta["ridge_lambda"] = info["lambda"]
        elif name == "nearest_neighbour":
            preds[name], _ = B.nearest_neighbour(x, y, qt)
        elif name == "mlp_same_params":
            D = x.shape[1]
            hidden = ecfg.mlp_hidden or B.hidden_for_params(D, lattice_params)
            pipe = spec.config("pipeline")
            torch.manual_seed(tcfg.seed)
            mlp = B.SameParamsMLP(D, hidden, residual=bool(getattr(pipe, "residual", False)))
            mcfg = attrs.evolve(tcfg, lr=ecfg.mlp_lr or tcfg.lr, epochs=ecfg.mlp_epochs or tcfg.epochs)
            res = train_model(mlp, x, y, xv, yv, val_answers, mcfg, loss=spec.sections["qa_loss"], progress=progress, desc="mlp_same_params")
            meta.update({"mlp_hidden": hidden, "mlp_params": count_params(mlp), "mlp_lr": mcfg.lr, "mlp_epochs": mcfg.epochs})
            history[name] = res["history"]
            preds[name] = predict(mlp, qt)
        elif name == "adapters_only":
            bypass = B.adapters_only(spec, tcfg.seed)
            if count_params(bypass) > 0:  # fixed adapters leave nothing to train: the bypass is then a fixed map
                res = train_model(bypass, x, y, xv, yv, val_answers, tcfg, loss=spec.sections["qa_loss"], progress=progress, desc="adapters_only")
                history[name] = res["history"]
            meta.update({"adapters_only_params": count_params(bypass), "adapters_only_breakdown": B.param_breakdown(bypass)})
            preds[name] = predict(bypass, qt)
    return preds, meta, history


def score(preds: dict[str, torch.Tensor], at: torch.Tensor, train_mean: torch.Tensor, refs: list[list[str]],
          decoder) -> tuple[dict[str, dict[str, np.ndarray]], dict[str, dict], str]:
    """Per-item metrics of every system (embedding, ranking, and decoded text when a decoder exists),
    corpus-level text totals per system, and the BLEU signature."""
    gold = gold_sets([r[0] for r in refs], refs)
    items: dict[str, dict[str, np.ndarray]] = {}
    totals: dict[str, dict] = {}
    bleu_sig = ""
    for name, pred in preds.items():
        items[name] = embedding_items(pred, at, train_mean, gold)
        totals[name] = {}
        if decoder is None:
            continue
        idx = decoder.indices(pred) if isinstance(decoder, RetrievalDecoder) else None
        hyps = [decoder.texts[i] for i in idx] if idx is not None else decoder.decode(pred)
        t, per_item = text_metrics(hyps, refs)
        bleu_sig = str(t.pop("bleu_signature"))
        totals[name] = {"bleu": t["bleu"], "chrf": t["chrf"]}
        items[name].update(per_item)
        if idx is not None:
            items[name]["decoded_cosine"] = F.cosine_similarity(decoder.embeddings[idx].double(), at.double(), dim=-1).numpy()
    return items, totals, bleu_sig


def summary(items: dict[str, dict[str, np.ndarray]], totals: dict[str, dict], bootstrap: int, seed: int,
            model: str = "lattice", invalid: dict[str, str] | None = None,
            order: list[str] | None = None) -> tuple[dict[str, dict], dict[str, dict]]:
    """(systems: means, intervals and totals; paired: model − each baseline on every per-item metric).

    A system in ``invalid`` (name → why; its predictions were not finite) gets ``{"invalid": why}``
    and no numbers, and no paired comparison involves it. ``order``: the systems' order in the report.
    """
    invalid = invalid or {}
    systems: dict[str, dict] = {}
    paired_out: dict[str, dict] = {}
    if items:
        n = len(next(iter(items.values()))["cosine"])
        idx = resample_indices(n, bootstrap, seed)
        systems = {name: {**summarise(it, idx), **totals.get(name, {})} for name, it in items.items()}
        paired_out = {name: paired(items[model], it, idx) for name, it in items.items() if name != model} if model in items else {}
    systems.update({name: {"invalid": why} for name, why in invalid.items()})
    names = [n for n in (order or []) if n in systems] + [n for n in systems if n not in (order or [])]
    return {n: systems[n] for n in names}, paired_out


def split_valid(preds: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """(systems whose predictions are all finite, name → why for the others): non-finite ones get no numbers."""
    invalid = {name: why for name, pred in preds.items() if (why := nonfinite_reason(pred))}
    return {n: p for n, p in preds.items() if n not in invalid}, invalid


def evaluate(spec, state: dict) -> Path:
    """Compute the report for ``state['model']`` (and the baselines); return the JSON's path."""
    from aa_core.assemble import count_params

    ecfg, run = spec.sections["evaluate"], spec.sections["run"]
    if ecfg.folds > 1:
        from .folds import cross_validate

        return cross_validate(spec, state)
    if "model" not in state:
        model_from_resume(spec, state, check_data=True)
    data, emb = prepare(spec, state)
    model, decoder = state["model"], state.get("decoder")
    if getattr(model, "generative", False):  # text_to_text: generated answers beside the text baselines
        from .generative import evaluate_generated

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
                  "select_on": spec.sections["train"].select_on or QAPairs.default_selection}
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
        from .data import normalise

        bank, train_answers = {normalise(t) for t in decoder.texts}, {normalise(p.answer) for p in data.train}
        leaked = {normalise(a) for a in answers} & bank - train_answers
        meta["bank_test_answers_not_in_train"] = len(leaked)
        oracle = oracle or bool(leaked)
    n_bank = len(decoder) if decoder is not None and hasattr(decoder, "__len__") else 0
    meta["decoder"] = ("ORACLE phrase bank (contains test answers)" if oracle else f"phrase bank of {n_bank} training answers") if decoder is not None else "none"
    meta["oracle"] = oracle
    meta["bleu_signature"] = bleu_sig
    if decoder is not None and hasattr(decoder, "generate"):  # embedding → text decoder: reconstruction of held-out texts
        from .generative import roundtrip

        meta["decoder"] = "generative decoder pre-trained on training questions and answers (new text, no bank)"
        meta["roundtrip"] = roundtrip(decoder, state["ctx"].tokenizer, [p.question for p in data.split(split)] + answers)
    meta["reconstruction_error"] = _reconstruction(model, x[:2000], qt)
    if oracle:
        meta["note"] = "text metrics are oracle: the phrase bank contains test answers"
    report = {"systems": systems, "paired": paired_out, "meta": meta, "history": history}
    return _finish(spec, state, report)


def _finish(spec, state: dict, report: dict) -> Path:
    """Stamp, write (JSON, Markdown, PNG) and print a report; keep it in ``state``."""
    run, ecfg = spec.sections["run"], spec.sections["evaluate"]
    meta = report["meta"]
    run_id = state.setdefault("run_id", new_run_id(spec))
    meta["run_id"] = run_id
    meta["created"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    meta.update(state.get("report_meta", {}))
    if meta.get("checkpoint"):
        ck = meta["checkpoint"]
        print(f"checkpoint evaluated: run {ck['run_id']}, {ck['name']}, weights sha256 {ck['weights_sha256'][:16]}", flush=True)
    if meta.get("data_changed"):
        print(f"NOTE: the test split is not the training run's. {meta['data_changed']}", flush=True)
    print(R.terminal_table(report["systems"]), flush=True)
    for line in R.comparison(report):
        print(line, flush=True)
    if meta.get("bleu_signature"):
        print(f"BLEU signature: {meta['bleu_signature']}", flush=True)
    if meta.get("oracle"):
        print("NOTE: the phrase bank contains test answers: text metrics are ORACLE numbers", flush=True)
    # the results are printed before the files are written: a full disk never loses them (the report then goes elsewhere)
    folder = Path(run.output_dir) / run_id  # a training run's own folder (the trainer's metrics.json is there too)
    if state.get("own_report_folder") or (folder / "report.json").exists():
        folder = R.new_folder(Path(run.output_dir), run_id)  # exclusive: an evaluation never overwrites another's report
    run_dir = Path(run.checkpoint_dir) / run_id
    paths = R.write_or_elsewhere(report, folder, png=ecfg.plot, elsewhere=[run_dir / "report"] if run_dir.is_dir() else [])
    print("report: " + ", ".join(str(p) for p in paths.values()), flush=True)
    state["report"] = report
    state["report_path"] = paths["json"]
    return paths["json"]


def run_task(spec, state: dict) -> None:
    evaluate(spec, state)


def checkpoint_identity(ckpt) -> dict[str, str]:
    """Which checkpoint a report evaluates: its run id, folder name, path and weights file sha256."""
    from aa_core.checkpoint import is_run_dir

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
    from .data import load_data, normalise

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


def evaluate_checkpoint(ckpt, overrides: list[str] | None = None, allow_change: list[str] | None = None) -> Path:
    """``aa evaluate --checkpoint DIR``: rebuild model and phrase bank from a checkpoint, write a report
    to a new folder of its own that names the checkpoint.

    A ``--set`` (or a changed file on disk) that changes the data (dataset hash: the pairs and their
    split) is refused unless ``allow_change`` holds ``"data"``; the report then says in plain words
    that its test split is not the training run's.
    """
    from aa_core.spec import apply_overrides, validate

    from .train import load_data_once

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
