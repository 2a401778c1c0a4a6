"""Abstention: a confidence threshold calibrated on the validation split, stored in the checkpoint.

Confidence is the cosine of the predicted answer embedding to the decoded answer's embedding (the
score ``aa ask`` prints). On the validation split a prediction counts as right when the decoder
returns for it the same answer it returns for the reference answer's own embedding (the best answer
the decoder holds). The threshold is the lowest confidence at which the answers kept reach the
target precision; below it an answer is marked ``abstained`` (the best guess is still given).
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch

from .answering import decode_scored

KEY = "abstention"  # the checkpoint metadata entry
TARGET_PRECISION = 0.5


def calibrate(confidence: Sequence[float], right: Sequence[bool], target_precision: float = TARGET_PRECISION) -> dict[str, Any]:
    """The lowest threshold whose kept answers (confidence ≥ threshold) reach ``target_precision``.

    When no threshold reaches it, the one with the highest precision (the most answers kept among
    ties) is used and ``reached`` is False. No validation answers: ``threshold`` is None.
    """
    n = len(confidence)
    out: dict[str, Any] = {"threshold": None, "target_precision": target_precision, "n": n,
                           "confidence": "cosine of the predicted embedding to the decoded answer's embedding"}
    # a NaN/inf confidence (a diverged prediction) is always abstained on: it is never a cut point
    finite = [i for i in range(n) if math.isfinite(confidence[i])]
    if not finite:
        return {**out, "reached": False, "precision": None, "coverage": None,
                **({"note": "no finite confidence on validation: nothing to calibrate"} if n else {})}
    order = sorted(finite, key=lambda i: -confidence[i])
    m = len(order)
    best: tuple[float, int] | None = None  # (precision, kept) of the best cut when the target is not reached
    chosen, hits = None, 0
    for k, i in enumerate(order, start=1):
        hits += bool(right[i])
        if k < m and confidence[order[k]] == confidence[i]:
            continue  # equal confidences are kept or dropped together
        precision = hits / k
        if precision >= target_precision:
            chosen = (precision, k)
        if best is None or precision >= best[0]:
            best = (precision, k)
    reached = chosen is not None
    precision, kept = chosen if chosen is not None else best  # type: ignore[misc]  # best is set: some confidence is finite
    return {**out, "threshold": float(confidence[order[kept - 1]]), "reached": reached, "precision": precision, "coverage": kept / n}


@torch.no_grad()
def calibrate_model(model, ctx, decoder, x_val: torch.Tensor, y_val: torch.Tensor, target_precision: float = TARGET_PRECISION) -> dict[str, Any]:
    """Calibrate on validation question embeddings ``x_val`` and reference answer embeddings ``y_val``."""
    if len(x_val) == 0:
        return calibrate([], [], target_precision)
    model.eval()
    pred = torch.cat([model(x_val[i : i + 256]) for i in range(0, len(x_val), 256)])
    texts, conf = decode_scored(pred, ctx, decoder)
    best = decoder.decode(y_val)
    return calibrate(conf.tolist(), [a == b for a, b in zip(texts, best)], target_precision)


def threshold(metadata: dict[str, Any]) -> float | None:
    """The abstention threshold a checkpoint's metadata holds (None: an older checkpoint, or one calibrated on
    non-finite confidences, whose NaN threshold would mark nothing; no abstention by threshold)."""
    entry = metadata.get(KEY)
    value = entry.get("threshold") if isinstance(entry, dict) else None
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None
