"""Retrieval ranking of generated answers' embeddings among the reference answers (text_to_text's
validation): ranks (ties count against the model, NaN scores are worst), recall@k and MRR, and gold
sets from normalised reference texts.

The same definitions as aa-qa's :mod:`aa_qa.ranking` (formerly ``aa_core.ranking``), kept here because
aa-text must not import the Q→A application (an import-linter contract); to be replaced by the core's
public ranking functions should ``aa_core.run`` expose them.
"""
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


def gold_sets(answers: list[str]) -> list[list[int]]:
    """For each item i, the indices j whose reference answer equals item i's (normalised)."""
    key = [normalise(a) or a for a in answers]
    groups: dict[str, list[int]] = {}
    for j, k in enumerate(key):
        groups.setdefault(k, []).append(j)
    return [groups[k] for k in key]


def ranking_metrics(r: np.ndarray) -> dict[str, float]:
    """Mean recall@1, recall@10 and reciprocal rank."""
    r = np.asarray(r)
    return {"recall_at_1": float((r <= 1).mean()), "recall_at_10": float((r <= 10).mean()), "mrr": float((1.0 / r).mean())}
