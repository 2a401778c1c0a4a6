"""Evaluation metrics on embeddings and decoded text.

Embedding metrics compare predictions ``[n, D]`` with the true answer embeddings ``[n, D]``
(same frozen teacher on both sides). Ranking counts an item as correct when its answer
text equals the true one (after normalisation), so duplicate answers are not penalised.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from .data import normalise


def cosines(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Row-wise cosine ``[n]``."""
    return F.cosine_similarity(pred.double(), target.double(), dim=-1)


def bootstrap_ci(values: np.ndarray, n: int = 1000, seed: int = 0, level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean."""
    values = np.asarray(values, dtype=np.float64)
    if len(values) == 0:
        return (float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, len(values), size=(n, len(values)))].mean(1)
    lo, hi = np.quantile(means, [(1 - level) / 2, 1 - (1 - level) / 2])
    return (float(lo), float(hi))


def ranks(pred: torch.Tensor, candidates: torch.Tensor, gold: list[list[int]]) -> np.ndarray:
    """1-based rank of the best gold candidate for each prediction: 1 + #non-gold scoring higher."""
    scores = F.normalize(pred.double(), dim=-1) @ F.normalize(candidates.double(), dim=-1).T  # [n, M]
    out = np.empty(len(gold), dtype=np.int64)
    for i, g in enumerate(gold):
        s = scores[i]
        best = s[g].max()
        mask = torch.ones_like(s, dtype=torch.bool)
        mask[g] = False
        out[i] = 1 + int((s[mask] > best).sum())
    return out


def gold_sets(answers: list[str]) -> list[list[int]]:
    """For each item, the indices of all items with the same normalised answer text."""
    groups: dict[str, list[int]] = {}
    for i, a in enumerate(answers):
        groups.setdefault(normalise(a) or a, []).append(i)
    return [groups[normalise(a) or a] for a in answers]


def ranking_metrics(r: np.ndarray) -> dict[str, float]:
    return {
        "recall_at_1": float((r <= 1).mean()),
        "recall_at_10": float((r <= 10).mean()),
        "mrr": float((1.0 / r).mean()),
    }


def text_metrics(hyps: list[str], refs: list[str]) -> dict[str, float | str]:
    """Corpus BLEU (sacrebleu, default 13a tokenisation) and mean ROUGE-L F1 (target first), both 0–100."""
    from rouge_score import rouge_scorer
    from sacrebleu.metrics import BLEU

    bleu = BLEU()
    b = bleu.corpus_score(hyps, [refs])
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    rl = [scorer.score(ref, hyp)["rougeL"].fmeasure for hyp, ref in zip(hyps, refs)]
    return {"bleu": float(b.score), "rouge_l": 100.0 * float(np.mean(rl)) if rl else 0.0, "bleu_signature": str(bleu.get_signature())}


def embedding_metrics(pred: torch.Tensor, target: torch.Tensor, train_mean: torch.Tensor, gold: list[list[int]], *, bootstrap: int = 1000, seed: int = 0) -> dict:
    """cosine (+ bootstrap CI), train-mean-centred cosine, recall@1/@10 and MRR among ``target``."""
    c = cosines(pred, target).numpy()
    cc = cosines(pred - train_mean, target - train_mean).numpy()
    out = {"cosine": float(c.mean()), "cosine_ci95": list(bootstrap_ci(c, bootstrap, seed)), "centred_cosine": float(cc.mean())}
    out.update(ranking_metrics(ranks(pred, target, gold)))
    return out
