"""The ``evaluate`` task: the model and every baseline on the held-out split, one report."""
from __future__ import annotations

import time
from pathlib import Path

import torch
import torch.nn.functional as F

from aa_core.plugin import UserError
from aa_core.protocols import RetrievalDecoder

from . import baselines as B
from . import report as R
from .ask import restore_for_answers
from .metrics import embedding_metrics, gold_sets, text_metrics
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


def evaluate(spec, state: dict) -> Path:
    """Compute the report for ``state['model']`` (and the baselines); return the JSON's path."""
    from aa_core.assemble import count_params

    if "model" not in state:
        model_from_resume(spec, state)
    data, emb = prepare(spec, state)
    ecfg, tcfg, run = spec.sections["evaluate"], spec.sections["train"], spec.sections["run"]
    model, decoder = state["model"], state.get("decoder")
    split = ecfg.split
    (x, y), (xv, yv), (qt, at) = emb["train"], emb["validation"], emb[split]
    answers = [p.answer for p in data.split(split)]
    gold = gold_sets(answers)
    train_mean = y.mean(0)
    lattice_params = count_params(model)
    meta: dict = {"spec": spec.source, "split": split, "dataset_hash": data.hash, "sizes": data.sizes(),
                  "lattice_params": lattice_params, "duplicates_removed": data.duplicates_removed,
                  "overlap_removed": data.overlap_removed}
    history = {"lattice": state.get("train_result", {}).get("history", state.get("history", []))}
    preds: dict[str, torch.Tensor] = {"lattice": predict(model, qt)}
    for name in ecfg.baselines:
        if name == "random":
            preds[name] = B.random_pairs(at, ecfg.seed)
        elif name == "mean_answer":
            preds[name] = B.mean_answer(y, len(qt))
        elif name == "identity":
            preds[name] = qt.clone()
        elif name == "ridge":
            preds[name], info = B.ridge(x, y, xv, yv, qt, ecfg.ridge_lambdas)
            meta["ridge_lambda"] = info["lambda"]
        elif name == "nearest_neighbour":
            preds[name], _ = B.nearest_neighbour(x, y, qt)
        elif name == "mlp_same_params":
            D = x.shape[1]
            hidden = B.hidden_for_params(D, lattice_params)
            pipe = spec.config("pipeline")
            torch.manual_seed(tcfg.seed)
            mlp = B.SameParamsMLP(D, hidden, residual=bool(getattr(pipe, "residual", False)))
            res = train_model(mlp, x, y, xv, yv, [p.answer for p in data.validation], tcfg, progress=run.progress, desc="mlp_same_params")
            meta.update({"mlp_hidden": hidden, "mlp_params": count_params(mlp)})
            history["mlp_same_params"] = res["history"]
            preds[name] = predict(mlp, qt)
    systems: dict[str, dict] = {}
    bleu_sig = ""
    for name, pred in preds.items():
        m = embedding_metrics(pred, at, train_mean, gold, bootstrap=ecfg.bootstrap, seed=ecfg.seed)
        if decoder is not None:
            idx = decoder.indices(pred) if isinstance(decoder, RetrievalDecoder) else None
            hyps = [decoder.texts[i] for i in idx] if idx is not None else decoder.decode(pred)
            t = text_metrics(hyps, answers)
            bleu_sig = t.pop("bleu_signature")
            m.update(t)
            if idx is not None:
                m["decoded_cosine"] = float(F.cosine_similarity(decoder.embeddings[idx].double(), at.double(), dim=-1).mean())
        else:
            m.update({"bleu": float("nan"), "rouge_l": float("nan")})
        systems[name] = m
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
    meta["reconstruction_error"] = _reconstruction(model, x[:2000], qt)
    run_id = state.setdefault("run_id", new_run_id(spec))
    meta["run_id"] = run_id
    meta["created"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    if oracle:
        meta["note"] = "text metrics are oracle: the phrase bank contains test answers"
    report = {"systems": systems, "meta": meta, "history": history}
    paths = R.write(report, Path(run.output_dir) / run_id, png=ecfg.plot)
    print(R.terminal_table(systems), flush=True)
    for line in R.comparison(systems):
        print(line, flush=True)
    print(f"BLEU signature: {bleu_sig}", flush=True)
    if oracle:
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
