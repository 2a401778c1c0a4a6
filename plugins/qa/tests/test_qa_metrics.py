"""Metrics and baselines on hand-checked values."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from aa_qa import baselines as B
from aa_qa.metrics import bootstrap_ci, embedding_metrics, gold_sets, ranking_metrics, ranks, text_metrics


def test_ranks_recall_mrr_known_values():
    cands = torch.eye(4)  # four orthogonal answers
    pred = torch.tensor([[1.0, 0, 0, 0], [1.0, 0.5, 0, 0], [0, 0, 0.2, 1.0], [0, 0, 0, 1.0]])
    r = ranks(pred, cands, [[0], [1], [2], [3]])
    assert r.tolist() == [1, 2, 2, 1]  # item 1: candidate 0 scores higher than its own
    m = ranking_metrics(r)
    assert m["recall_at_1"] == 0.5 and m["recall_at_10"] == 1.0 and m["mrr"] == pytest.approx(0.75)


def test_duplicate_answer_texts_count_as_correct():
    gold = gold_sets(["Paris", "paris.", "Rome"])
    assert gold == [[0, 1], [0, 1], [2]]
    cands = torch.tensor([[1.0, 0], [1.0, 0.01], [0, 1.0]])
    assert ranks(torch.tensor([[1.0, 0.01]]), cands, [gold[0]]).tolist() == [1]


def test_embedding_metrics_cosine_and_centred():
    y = torch.tensor([[1.0, 1.0], [1.0, -1.0]])
    pred = torch.tensor([[1.0, 0.0], [1.0, 0.0]])
    m = embedding_metrics(pred, y, train_mean=torch.tensor([1.0, 0.0]), gold=[[0], [1]], bootstrap=200)
    assert m["cosine"] == pytest.approx(math.sqrt(0.5))
    assert m["centred_cosine"] == pytest.approx(0.0)  # pred − mean is zero: cosine 0 by convention
    lo, hi = m["cosine_ci95"]
    assert lo <= m["cosine"] <= hi


def test_bootstrap_ci_brackets_the_mean_and_narrows():
    rng = np.random.default_rng(0)
    v = rng.normal(0.5, 0.1, 400)
    lo, hi = bootstrap_ci(v, 500, seed=1)
    assert lo < v.mean() < hi and 0.01 < hi - lo < 0.04
    lo2, hi2 = bootstrap_ci(v[:40], 500, seed=1)
    assert hi2 - lo2 > hi - lo


def test_text_metrics_perfect_and_disjoint():
    refs = ["the cat sat on the mat", "a dog barked loudly"]
    t, items = text_metrics(refs, [[r] for r in refs])
    assert t["bleu"] == pytest.approx(100.0) and t["rouge_l"] == pytest.approx(100.0)
    assert t["exact_match"] == 100.0 and items["token_f1"].tolist() == [100.0, 100.0]
    assert "tok:13a" in t["bleu_signature"]
    t, items = text_metrics(["zebra quantum", "violet engine"], [[r] for r in refs])
    assert t["bleu"] < 1.0 and t["rouge_l"] == 0.0 and t["exact_match"] == 0.0


def test_rouge_target_first():
    # precision/recall differ; the F-measure is symmetric, so check against rouge_score directly.
    from rouge_score import rouge_scorer

    s = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True).score("the cat sat", "the cat sat on the mat")["rougeL"]
    assert text_metrics(["the cat sat on the mat"], [["the cat sat"]])[0]["rouge_l"] == pytest.approx(100 * s.fmeasure)
    assert s.recall == 1.0 and s.precision == 0.5


def test_random_pairs_is_a_derangement():
    a = torch.arange(10.0).unsqueeze(1).repeat(1, 3)
    r = B.random_pairs(a, seed=0)
    assert sorted(r[:, 0].tolist()) == list(range(10)) and all(r[i, 0] != i for i in range(10))
    assert torch.equal(r, B.random_pairs(a, seed=0))


def test_ridge_recovers_a_linear_map_and_picks_small_lambda():
    g = torch.Generator().manual_seed(0)
    W = torch.randn(8, 5, generator=g)
    x, xv = torch.randn(200, 8, generator=g), torch.randn(50, 8, generator=g)
    pred, info = B.ridge(x, x @ W + 1.0, xv, xv @ W + 1.0, xv, [1e-3, 10.0, 1000.0])
    assert info["lambda"] == 1e-3
    assert torch.allclose(pred, xv @ W + 1.0, atol=1e-3)


def test_nearest_neighbour_and_mean_answer():
    q = torch.eye(3)
    a = torch.tensor([[1.0, 0], [0, 1.0], [1.0, 1.0]])
    pred, idx = B.nearest_neighbour(q, a, torch.tensor([[0.1, 0.9, 0.0]]))
    assert idx.tolist() == [1] and torch.equal(pred, a[1:2])
    assert torch.allclose(B.mean_answer(a, 2), torch.tensor([[2 / 3, 2 / 3]] * 2))


def test_same_params_mlp_matches_count():
    D, P = 384, 200_000
    h = B.hidden_for_params(D, P)
    n = sum(p.numel() for p in B.SameParamsMLP(D, h).parameters())
    assert abs(n - P) <= D


def test_residual_same_params_mlp_starts_as_identity_and_learns():
    """Residual: the output layer starts at zero (the untrained map is x), yet gradients reach it."""
    torch.manual_seed(0)
    x = torch.randn(5, 16)
    mlp = B.SameParamsMLP(16, 3, residual=True)
    assert torch.equal(mlp(x), x)
    (mlp(x) - x - 1.0).pow(2).sum().backward()
    assert mlp.net[-1].bias.grad.abs().sum() > 0 and mlp.net[-1].weight.grad.abs().sum() > 0
    plain = B.SameParamsMLP(16, 3)  # without the residual the output layer keeps its random init
    assert plain.net[-1].weight.abs().sum() > 0
