"""Evaluation metrics on embeddings and decoded text, per item and in total.

Embedding metrics compare predictions ``[n, D]`` with the true answer embeddings ``[n, D]``
(same frozen teacher on both sides). Ranking: the rank of the best correct candidate among all
test answers, where a candidate is correct when its answer text equals (after normalisation) one
of the item's accepted answers; ties count against the model (a wrong candidate scoring equal
to the best correct one ranks above it; a NaN score counts as the worst possible, so a NaN prediction
ranks last rather than first). Text metrics use every accepted answer as a reference;
exact match and token F1 use the SQuAD / NQ-open answer normalisation.
"""
from __future__ import annotations

import re
import string
from collections import Counter

import numpy as np
import torch
import torch.nn.functional as F

from .ranking import gold_sets, normalise, ranking_items, ranking_metrics, ranks  # noqa: F401  (re-exported: aa_qa.metrics.* kept working)
from .stats import interval, resample_indices


def cosines(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Row-wise cosine ``[n]``."""
    return F.cosine_similarity(pred.double(), target.double(), dim=-1)


def bootstrap_ci(values: np.ndarray, n: int = 1000, seed: int = 0, level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean."""
    return interval(values, resample_indices(len(values), n, seed), level) if len(values) else (float("nan"), float("nan"))


def nonfinite_reason(pred: torch.Tensor) -> str | None:
    """Why predictions ``[n, D]`` cannot be scored (some value is NaN or inf), or None when all are finite."""
    bad = int((~torch.isfinite(pred)).flatten(1).any(1).sum()) if pred.numel() else 0
    if not bad:
        return None
    return f"{bad} of {len(pred)} predictions contain NaN or inf (the model diverged, or its weights are not finite)"


def squad_normalise(text: str) -> str:
    """SQuAD / NQ-open answer normalisation: lower case, punctuation and articles removed, whitespace collapsed."""
    text = text.lower()
    text = "".join(ch for ch in text if ch not in set(string.punctuation))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def exact_match(hyp: str, refs: list[str]) -> float:
    """1.0 when the normalised hypothesis equals one normalised reference."""
    h = squad_normalise(hyp)
    return float(any(h == squad_normalise(r) for r in refs))


def token_f1(hyp: str, refs: list[str]) -> float:
    """Best token-overlap F1 (SQuAD) of the hypothesis against any reference."""
    h = squad_normalise(hyp).split()
    best = 0.0
    for ref in refs:
        r = squad_normalise(ref).split()
        if not h or not r:
            best = max(best, float(h == r))
            continue
        common = sum((Counter(h) & Counter(r)).values())
        if common:
            p, rec = common / len(h), common / len(r)
            best = max(best, 2 * p * rec / (p + rec))
    return best


def text_metrics(hyps: list[str], refs: list[list[str]]) -> tuple[dict[str, float | str], dict[str, np.ndarray]]:
    """Totals and per-item values, all 0–100, against every reference of each item.

    Totals: corpus BLEU and corpus chrF (sacrebleu defaults, multi-reference), mean ROUGE-L F1
    (rouge_score, best reference), exact match and token F1 (SQuAD normalisation, best reference).
    Per item: sentence chrF, ROUGE-L, exact match, token F1 (BLEU is a corpus statistic only).
    """
    from rouge_score import rouge_scorer
    from sacrebleu.metrics import BLEU, CHRF

    width = max((len(r) for r in refs), default=1)
    # sacrebleu accepts None for an item with fewer references than the widest one
    streams: list = [[r[k] if k < len(r) else None for r in refs] for k in range(width)]
    bleu, chrf = BLEU(), CHRF()
    b = bleu.corpus_score(hyps, streams)
    c = chrf.corpus_score(hyps, streams)
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    items = {
        "rouge_l": np.array([100.0 * scorer.score_multi(r, h)["rougeL"].fmeasure for h, r in zip(hyps, refs)]),
        "chrf": np.array([chrf.sentence_score(h, r).score for h, r in zip(hyps, refs)]),
        "exact_match": np.array([100.0 * exact_match(h, r) for h, r in zip(hyps, refs)]),
        "token_f1": np.array([100.0 * token_f1(h, r) for h, r in zip(hyps, refs)]),
    }
    totals: dict[str, float | str] = {"bleu": float(b.score), "chrf": float(c.score)}
    totals.update({k: float(v.mean()) if len(v) else 0.0 for k, v in items.items() if k != "chrf"})
    totals["bleu_signature"] = str(bleu.get_signature())
    return totals, items


def embedding_items(pred: torch.Tensor, target: torch.Tensor, train_mean: torch.Tensor, gold: list[list[int]]) -> dict[str, np.ndarray]:
    """Per-item cosine, train-mean-centred cosine, recall@1, recall@10 and reciprocal rank."""
    out = {"cosine": cosines(pred, target).numpy(), "centred_cosine": cosines(pred - train_mean, target - train_mean).numpy()}
    out.update(ranking_items(ranks(pred, target, gold)))
    return out


INTERVAL_KEYS = ("cosine", "recall_at_1", "recall_at_10", "mrr", "exact_match", "token_f1")


def summarise(items: dict[str, np.ndarray], idx: np.ndarray) -> dict:
    """Means of per-item metrics, with ``KEY_ci95`` bootstrap intervals for the headline ones."""
    out: dict = {k: float(v.mean()) for k, v in items.items()}
    for k in INTERVAL_KEYS:
        if k in items:
            out[f"{k}_ci95"] = list(interval(items[k], idx))
    return out


def embedding_metrics(pred: torch.Tensor, target: torch.Tensor, train_mean: torch.Tensor, gold: list[list[int]], *, bootstrap: int = 1000, seed: int = 0) -> dict:
    """cosine, centred cosine, recall@1/@10 and MRR (means), with bootstrap intervals."""
    return summarise(embedding_items(pred, target, train_mean, gold), resample_indices(len(pred), bootstrap, seed))
