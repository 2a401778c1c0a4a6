"""Baselines every Q→A model must be compared with (fitted on the training split only).

Each returns test predictions ``[n, D]`` in the teacher space:
random (another test answer), mean_answer (mean training answer), identity (the question
itself), ridge (closed-form E(q)→E(a), λ chosen on validation), nearest_neighbour (the
answer of the closest training question) and mlp_same_params (a one-hidden-layer MLP with
the lattice's parameter count, trained by the same loop and settings).
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from aa_core.plugin import EmbeddingLoss


def random_pairs(a_test: torch.Tensor, seed: int) -> torch.Tensor:
    """Each test item gets a different test item's answer (a random cyclic derangement)."""
    n = len(a_test)
    perm = torch.from_numpy(np.random.default_rng(seed).permutation(n))
    src = torch.empty(n, dtype=torch.long)
    src[perm] = perm.roll(-1) if n > 1 else perm
    return a_test[src]


def mean_answer(a_train: torch.Tensor, n: int) -> torch.Tensor:
    return a_train.mean(0, keepdim=True).expand(n, -1).clone()


def ridge_fit(x: torch.Tensor, y: torch.Tensor, lam: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Centred ridge regression: returns (W [D, D'], x_mean, y_mean); predict (x − x̄)W + ȳ."""
    xm, ym = x.double().mean(0), y.double().mean(0)
    xc, yc = x.double() - xm, y.double() - ym
    gram = xc.T @ xc + lam * torch.eye(x.shape[1], dtype=torch.float64)
    return torch.linalg.solve(gram, xc.T @ yc), xm, ym


def ridge_predict(params, x: torch.Tensor) -> torch.Tensor:
    W, xm, ym = params
    return ((x.double() - xm) @ W + ym).float()


def ridge(x, y, xv, yv, xt, lambdas: list[float]) -> tuple[torch.Tensor, dict]:
    """Ridge with λ chosen by mean validation cosine."""
    scores = {}
    for lam in lambdas:
        pv = ridge_predict(ridge_fit(x, y, lam), xv)
        scores[lam] = float(F.cosine_similarity(pv, yv, dim=-1).mean())
    best = max(lambdas, key=lambda v: (scores[v], -v))
    return ridge_predict(ridge_fit(x, y, best), xt), {"lambda": best, "val_cosine_by_lambda": {str(k): v for k, v in scores.items()}}


def nearest_neighbour(q_train: torch.Tensor, a_train: torch.Tensor, q_test: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(answer embeddings [n, D], training indices [n]) of the most similar training question."""
    sims = F.normalize(q_test, dim=-1) @ F.normalize(q_train, dim=-1).T  # [n, M]
    idx = sims.argmax(1)
    return a_train[idx], idx


class SameParamsMLP(EmbeddingLoss, nn.Module):
    """D → H → D with GELU; H chosen so the parameter count matches a target (trained with the same loss)."""

    def __init__(self, dim: int, hidden: int, residual: bool = False):
        super().__init__()
        self.embedding_dim = dim
        self.net = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))
        self.residual = residual

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.net(x)
        return y + x if self.residual else y


def hidden_for_params(dim: int, params: int) -> int:
    """H with H·(2D + 1) + D ≈ params (at least 1)."""
    return max(1, round((params - dim) / (2 * dim + 1)))
