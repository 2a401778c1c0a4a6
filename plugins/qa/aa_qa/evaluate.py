"""The ``evaluate`` task: the model and every baseline on the held-out split, one report."""
from __future__ import annotations

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
from .metrics import embedding_items, gold_sets, summarise, text_metrics
from .stats import paired, resample_indices
from .train import new_run_id, predict, prepare, train_model


def model_from_resume(spec, state: dict) -> None:
    """Put the model, ctx and decoder of ``run.resume`` into ``state`` (evaluate/ask without train)."""
    run = spec.sections["run"]
    if not run.resume:
        raise UserError("the evaluate task needs a trained model: put 'train' before 'evaluate' in run.tasks, or set run.resume = CHECKPOINT_DIR")
    from aa_core.checkpoint import load_checkpoint

    ckpt = load_checkpoint(run.resume)
    model, ctx, decoder = restore_for_answers(ckpt)
    state.update({"model": model, "ctx": ctx, "decoder": decoder, "history": ckpt.metadata.get("history", [])})


@torch.no_grad()
def _reconstruction(model, x_fit: torch.Tensor, x_eval: torch.Tensor) -> dict[str, float]:
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
    return {n: round(float(adapters[n].reconstruction_error(ev[n], x_fit=fit[n])), 6) for n in adapters if n in ev}


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
            res = train_model(mlp, x, y, xv, yv, val_answers, mcfg, progress=progress, desc="mlp_same_params")
            meta.update({"mlp_hidden": hidden, "mlp_params": count_params(mlp), "mlp_lr": mcfg.lr, "mlp_epochs": mcfg.epochs})
            history[name] = res["history"]
            preds[name] = predict(mlp, qt)
        elif name == "adapters_only":
            bypass = B.adapters_only(spec, tcfg.seed)
            if count_params(bypass) > 0:  # fixed adapters leave nothing to train: the bypass is then a fixed map
                res = train_model(bypass, x, y, xv, yv, val_answers, tcfg, progress=progress, desc="adapters_only")
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
            model: str = "lattice") -> tuple[dict[str, dict], dict[str, dict]]:
    """(systems: means, intervals and totals; paired: model − each baseline on every per-item metric)."""
    n = len(next(iter(items.values()))["cosine"])
    idx = resample_indices(n, bootstrap, seed)
    systems = {name: {**summarise(it, idx), **totals.get(name, {})} for name, it in items.items()}
    paired_out = {name: paired(items[model], it, idx) for name, it in items.items() if name != model} if model in items else {}
    return systems, paired_out


def evaluate(spec, state: dict) -> Path:
    """Compute the report for ``state['model']`` (and the baselines); return the JSON's path."""
    from aa_core.assemble import count_params

    ecfg, run = spec.sections["evaluate"], spec.sections["run"]
    if ecfg.folds > 1:
        from .folds import cross_validate

        return cross_validate(spec, state)
    if "model" not in state:
        model_from_resume(spec, state)
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
                  "select_on": spec.sections["train"].select_on}
    history = {"lattice": state.get("train_result", {}).get("history", state.get("history", []))}
    preds, bmeta, bhist = fit_baselines(spec, ecfg.baselines, emb["train"], emb["validation"], [p.answer for p in data.validation],
                                        qt, at, lattice_params, run.progress)
    preds = {"lattice": predict(model, qt), **preds}
    meta.update(bmeta)
    history.update(bhist)
    items, totals, bleu_sig = score(preds, at, y.mean(0), refs, decoder)
    systems, paired_out = summary(items, totals, ecfg.bootstrap, ecfg.seed)
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
    paths = R.write(report, Path(run.output_dir) / run_id, png=ecfg.plot)
    print(R.terminal_table(report["systems"]), flush=True)
    for line in R.comparison(report):
        print(line, flush=True)
    if meta.get("bleu_signature"):
        print(f"BLEU signature: {meta['bleu_signature']}", flush=True)
    if meta.get("oracle"):
        print("NOTE: the phrase bank contains test answers: text metrics are ORACLE numbers", flush=True)
    print("report: " + ", ".join(str(p) for p in paths.values()), flush=True)
    state["report"] = report
    state["report_path"] = paths["json"]
    return paths["json"]


def run_task(spec, state: dict) -> None:
    evaluate(spec, state)


def evaluate_checkpoint(ckpt, overrides: list[str] | None = None) -> Path:
    """``aa evaluate --checkpoint DIR``: rebuild model and phrase bank from a checkpoint, write a report."""
    from aa_core.spec import apply_overrides, validate
    spec = validate(apply_overrides(ckpt.spec.resolved(), overrides or []), str(ckpt.path)) if overrides else ckpt.spec
    if "data" not in spec.sections:
        raise UserError(f"checkpoint {ckpt.path} has no [data] section to evaluate on; pass --set data.path=FILE")
    model, ctx, decoder = restore_for_answers(ckpt)
    state = {"model": model, "ctx": ctx, "decoder": decoder,
             "history": ckpt.metadata.get("history", []), "run_id": f"eval-{Path(ckpt.path).name}"}
    return evaluate(spec, state)
