"""Retrieval ranking of predicted embeddings among candidate answers: ranks (ties count against the
model, NaN scores are worst), recall@k and MRR, and gold sets from normalised reference texts.

Q→A's own (it was ``aa_core.ranking``); :mod:`aa_qa.metrics` re-exports it. A leaf: it imports
nothing of aa_qa."""
from __future__ import annotations

import math
import re
import unicodedata

import numpy as np
import torch
import torch.nn.functional as F


def normalise(text: str) -> str:
    """Lower-case, accents folded, punctuation dropped, whitespace collapsed."""
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii").lower()
    return " ".join(re.sub(r"[^a-z0-9]+", " ", text).split())


def ranks(pred: torch.Tensor, candidates: torch.Tensor, gold: list[list[int]]) -> np.ndarray:
    """1-based rank of the best gold candidate for each prediction: 1 + #non-gold scoring at least as high."""
    scores = F.normalize(pred.double(), dim=-1) @ F.normalize(candidates.double(), dim=-1).T  # [n, M]
    scores = scores.nan_to_num(nan=-math.inf)  # NaN is worst: below any number, tied with NaN (ties count against the model)
    out = np.empty(len(gold), dtype=np.int64)
    for i, g in enumerate(gold):
        s = scores[i]
        best = s[g].max()
        mask = torch.ones_like(s, dtype=torch.bool)
        mask[g] = False
        out[i] = 1 + int((s[mask] >= best).sum())
    return out


def gold_sets(answers: list[str], aliases: list[list[str]] | None = None) -> list[list[int]]:
    """For each item i, the indices j whose reference answer equals (normalised) one of item i's accepted answers."""
    key = [normalise(a) or a for a in answers]
    groups: dict[str, list[int]] = {}
    for j, k in enumerate(key):
        groups.setdefault(k, []).append(j)
    out = []
    for i, k in enumerate(key):
        accepted = {k} | {normalise(a) or a for a in (aliases[i] if aliases else ())}
        out.append(sorted({j for a in accepted for j in groups.get(a, ())}))
    return out


def ranking_items(r: np.ndarray) -> dict[str, np.ndarray]:
    """Per-item recall@1, recall@10 and reciprocal rank."""
    r = np.asarray(r)
    return {"recall_at_1": (r <= 1).astype(np.float64), "recall_at_10": (r <= 10).astype(np.float64), "mrr": 1.0 / r}


def ranking_metrics(r: np.ndarray) -> dict[str, float]:
    return {k: float(v.mean()) for k, v in ranking_items(r).items()}
