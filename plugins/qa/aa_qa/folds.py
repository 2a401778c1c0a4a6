"""k-fold evaluation for small data sets (``evaluate.folds = k``): every pair is held out once.

Each fold trains a fresh model from the spec (same seed and ``[train]`` settings) and the trained
baselines on the other folds (split into train and validation in ``data.split``'s ratio, by
:func:`aa_qa.data.fold_splits`: the split ``data.folds`` / ``data.fold`` gives one run of). The
report pools the per-item metrics of all folds and gives, per baseline and metric, the mean of
the per-fold paired differences (model − baseline) with a Student-t interval across folds.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from aa_core.plugin import UserError
from aa_core.run import build_model, count_params

from . import baselines as B
from .data import QAData, all_pairs, fold_assignment, fold_splits, validation_share
from .objective import QAObjective
from .prep import load_data_once, make_decoder, predict, prepare
from .scoring import fit_baselines, score, split_valid, summary, write_report
from .stats import t_interval, verdict
from .train import train_model

__all__ = ["cross_validate", "fold_assignment", "fold_splits"]


def cross_validate(spec, state: dict) -> Path:
    """The k-fold report (``evaluate.folds = k``): each fold held out once, the model and the trained baselines retrained per fold."""
    ecfg, tcfg, dcfg, run = spec.sections["evaluate"], spec.sections["train"], spec.sections["data"], spec.sections["run"]
    data = load_data_once(spec, state)
    data, emb = prepare(spec, state)
    pairs = all_pairs(data)
    q = torch.cat([emb[s][0] for s in ("train", "validation", "test")])
    a = torch.cat([emb[s][1] for s in ("train", "validation", "test")])
    k = ecfg.folds
    if len(pairs) < 2 * k:
        raise UserError(f"evaluate.folds = {k} needs at least {2 * k} pairs; the data have {len(pairs)}. Lower evaluate.folds")
    all_items: dict[str, dict[str, list[np.ndarray]]] = {}
    fold_diffs: dict[str, dict[str, list[float]]] = {}
    history: dict = {}
    meta: dict = {}
    invalid: dict[str, str] = {}  # a system with non-finite predictions in any fold gets no numbers at all
    order: list[str] = []
    for f, (train_i, val_i, test_i) in enumerate(fold_splits(len(pairs), k, ecfg.seed, validation_share(dcfg.split))):
        sub = QAData([pairs[i] for i in train_i], [pairs[i] for i in val_i], [pairs[i] for i in test_i], data.sources)
        tr, va, te = (q[train_i], a[train_i]), (q[val_i], a[val_i]), (q[test_i], a[test_i])
        torch.manual_seed(tcfg.seed)
        model, ctx = build_model(spec)
        decoder = make_decoder(spec, ctx, sub, {"train": tr}) if "decoder" in spec.components else None
        val_answers = [p.answer for p in sub.validation]
        res = train_model(model, *tr, *va, val_answers, tcfg, loss=spec.sections["qa_loss"], progress=run.progress, desc=f"lattice fold {f + 1}/{k}")
        params = count_params(model)
        preds, bmeta, bhist = fit_baselines(spec, ecfg.baselines, tr, va, val_answers, te[0], te[1], params, run.progress)
        preds = {"lattice": predict(model, te[0]), **preds}
        order = list(preds)
        valid, bad = split_valid(preds)
        for name, why in bad.items():
            invalid.setdefault(name, f"fold {f + 1}/{k}: {why}")
        refs = [list(p.answers or (p.answer,)) for p in sub.test]
        items, _, bleu_sig = score(valid, te[1], tr[1].mean(0), refs, decoder)
        if f == 0:
            meta.update(bmeta)
            meta.update({"lattice_params": params, "param_breakdown": B.param_breakdown(model), "bleu_signature": bleu_sig,
                         "select_on": tcfg.select_on or QAObjective.selection[0]})
            history = {"lattice": res["history"], **bhist}
        for name, it in items.items():
            for key, v in it.items():
                all_items.setdefault(name, {}).setdefault(key, []).append(v)
        for name, it in items.items():
            if name == "lattice" or "lattice" not in items:
                continue
            for key, v in it.items():
                if key in items["lattice"]:
                    fold_diffs.setdefault(name, {}).setdefault(key, []).append(float(np.mean(items["lattice"][key] - v)))
        print(f"fold {f + 1}/{k}: {len(train_i)} train / {len(val_i)} validation / {len(test_i)} test", flush=True)
    pooled = {n: {key: np.concatenate(v) for key, v in it.items()} for n, it in all_items.items() if n not in invalid}
    systems, paired_pooled = summary(pooled, {}, ecfg.bootstrap, ecfg.seed, invalid=invalid, order=order)
    paired_folds: dict[str, dict] = {}
    for name, per in fold_diffs.items():
        if name in invalid or "lattice" in invalid:
            continue
        paired_folds[name] = {}
        for key, diffs in per.items():
            m, lo, hi = t_interval(diffs)
            paired_folds[name][key] = {"diff": m, "ci95": [lo, hi], "verdict": verdict(lo, hi), "per_fold": diffs}
    meta.update({"spec": spec.source, "split": f"{k}-fold", "folds": k, "dataset_hash": data.hash, "sizes": {"pooled": len(pairs)},
                 "decoder": "phrase bank of each fold's training answers" if "decoder" in spec.components else "none",
                 "oracle": False, "bootstrap": ecfg.bootstrap,
                 "multi_reference_items": sum(len(p.answers) > 1 for p in pairs),
                 "paired_note": "paired = mean of per-fold (model − baseline) with a Student-t interval over folds; "
                                "paired_pooled = bootstrap over all held-out items"})
    report = {"systems": systems, "paired": paired_folds, "paired_pooled": paired_pooled, "meta": meta, "history": history}
    return write_report(spec, state, report)
