"""The training loop on small synthetic problems: loss values, learning, early stopping, determinism."""
from __future__ import annotations

import math

import attrs
import pytest
import torch
import torch.nn.functional as F

from aa_core.plugin import EmbeddingLoss
from aa_core.run import TrainConfig
from aa_qa.config import QALossConfig
from aa_qa.loss import embedding_loss
from aa_qa.train import train_model


def loss_fn(pred, target, contrastive_weight, temperature, cosine_weight=1.0, bank=None, positions=None):
    settings = QALossConfig(contrastive_weight=contrastive_weight, temperature=temperature, cosine_weight=cosine_weight)
    return embedding_loss(pred, target, settings, bank, positions)


class Linear(EmbeddingLoss, torch.nn.Linear):
    """A linear map trained by the embedding loss (a minimal pipeline)."""

    def __init__(self, d):
        super().__init__(d, d)
        self.embedding_dim = d


def test_loss_known_values():
    t = torch.eye(3, 4)  # three orthonormal rows in 4-d
    assert float(loss_fn(t, t, 0.0, 0.05)) == pytest.approx(0.0, abs=1e-7)
    assert float(loss_fn(-t, t, 0.0, 0.05)) == pytest.approx(2.0)
    # InfoNCE with orthogonal targets and temperature 1: −log(e / (e + 2)).
    assert float(loss_fn(t, t, 1.0, 1.0, cosine_weight=0.0)) == pytest.approx(-math.log(math.e / (math.e + 2)))
    bank = torch.eye(4)
    v = float(loss_fn(t, t, 1.0, 1.0, 0.0, bank=bank, positions=torch.arange(3)))
    assert v == pytest.approx(-math.log(math.e / (math.e + 3)))


def problem(seed=0, n=160, d=12):
    g = torch.Generator().manual_seed(seed)
    W = torch.randn(d, d, generator=g)
    x = F.normalize(torch.randn(n, d, generator=g), dim=-1)
    y = F.normalize(x @ W, dim=-1)
    return x[:120], y[:120], x[120:], y[120:], [f"a{i}" for i in range(40)]


def fit(cfg, seed=0, loss=None):
    torch.manual_seed(seed)
    model = Linear(12)
    x, y, xv, yv, names = problem()
    return model, train_model(model, x, y, xv, yv, names, cfg, loss=loss, progress=False)


def test_learns_a_linear_map_and_restores_the_best_epoch():
    cfg = TrainConfig(epochs=30, batch_size=16, lr=0.02, patience=30, threads=1)
    model, res = fit(cfg)
    hist = res["history"]
    assert hist[-1]["val_cosine"] > 0.95 > hist[0]["val_cosine"]
    best = max(h["val_cosine"] for h in hist)
    assert res["best"]["val_cosine"] == pytest.approx(best, abs=1e-6)
    x, y, xv, yv, _ = problem()
    with torch.no_grad():
        assert float(F.cosine_similarity(model(xv), yv).mean()) == pytest.approx(best, abs=1e-6)


def test_early_stopping_and_same_seed_same_history():
    cfg = TrainConfig(epochs=50, batch_size=16, lr=0.5, patience=2, threads=1, schedule="constant")
    loss = QALossConfig(contrastive_weight=0.5, negatives="all")
    _, a = fit(cfg, loss=loss)
    _, b = fit(cfg, loss=loss)
    assert a["history"] == b["history"]
    assert a["stopped_early"] and len(a["history"]) < 50
    _, c = fit(attrs.evolve(cfg, seed=1), loss=loss)
    assert c["history"] != a["history"]
