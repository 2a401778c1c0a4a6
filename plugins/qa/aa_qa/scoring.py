"""Scoring a held-out split: the baselines fitted, every system's per-item metrics and their summary
with paired intervals, the report written. Shared by the one-split evaluation (:mod:`aa_qa.evaluate`)
and the k-fold study (:mod:`aa_qa.folds`); above training (trained baselines use the same loop as
the model), below both tasks."""
from __future__ import annotations

import math
import time
from pathlib import Path

import attrs
import numpy as np
import torch
import torch.nn.functional as F

from aa_core.protocols import RetrievalDecoder
from aa_core.run import count_params, new_run_id

from . import baselines as B
from . import report as R
from .metrics import embedding_items, gold_sets, nonfinite_reason, summarise, text_metrics
from .prep import predict
from .stats import paired, resample_indices
from .train import train_model


@torch.no_grad()
def reconstruction(model, x_fit: torch.Tensor, x_eval: torch.Tensor) -> dict[str, float | str]:
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


def write_report(spec, state: dict, report: dict) -> Path:
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
