"""Paired statistics, pessimistic ties, multi-reference EM/F1 and the new baselines, recomputed with numpy."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from aa_qa import baselines as B
from aa_qa.metrics import exact_match, gold_sets, ranks, squad_normalise, text_metrics, token_f1
from aa_qa.stats import HIGHER, LOWER, NO_DIFF, interval, paired, resample_indices, t_interval, verdict


def test_paired_interval_matches_a_numpy_recomputation():
    rng = np.random.default_rng(3)
    a = rng.normal(0.5, 0.2, 300)
    b = a - 0.01 + rng.normal(0, 0.01, 300)  # b a little below a on the same items
    idx = resample_indices(300, 800, seed=5)
    out = paired({"cosine": a}, {"cosine": b}, idx)["cosine"]
    r = np.random.default_rng(5).integers(0, 300, size=(800, 300))
    means = (a - b)[r].mean(1)
    assert out["diff"] == pytest.approx((a - b).mean())
    assert out["ci95"] == pytest.approx(list(np.quantile(means, [0.025, 0.975])))
    assert out["verdict"] == HIGHER
    # the same two systems compared unpaired: their separate intervals overlap, the paired one does not
    lo_a, hi_a = interval(a, idx)
    lo_b, hi_b = interval(b, idx)
    assert lo_a < hi_b and out["ci95"][0] > 0


def test_verdict_wording():
    assert verdict(0.01, 0.02) == HIGHER and verdict(-0.02, -0.01) == LOWER and verdict(-0.01, 0.01) == NO_DIFF
    assert verdict(0.0, 0.1) == NO_DIFF


def test_paired_swapping_systems_flips_the_sign():
    rng = np.random.default_rng(0)
    a, b = rng.random(50), rng.random(50)
    idx = resample_indices(50, 200, 1)
    ab, ba = paired({"m": a}, {"m": b}, idx)["m"], paired({"m": b}, {"m": a}, idx)["m"]
    assert ab["diff"] == pytest.approx(-ba["diff"])
    assert ab["ci95"][0] == pytest.approx(-ba["ci95"][1])


def test_t_interval_known_values():
    m, lo, hi = t_interval([1.0, 2.0, 3.0])
    assert m == 2.0 and (hi - m) == pytest.approx(4.303 * 1.0 / np.sqrt(3), rel=1e-4)
    assert np.isnan(t_interval([1.0])[1])


def test_ties_count_against_the_model():
    cands = torch.eye(3)
    pred = torch.tensor([[1.0, 1.0, 0.0], [0.0, 0.0, 0.0] , [0.0, 0.0, 1.0]])
    # item 0 ties its gold (0) with a wrong answer (1); item 1 predicts zeros: every score ties
    r = ranks(pred, cands, [[0], [1], [2]])
    assert r.tolist() == [2, 3, 1]


def test_aliases_make_other_items_correct_candidates():
    gold = gold_sets(["Barack Obama", "the USA", "Obama"], [["Barack Obama", "Obama"], ["the USA", "United States"], ["Obama"]])
    assert gold == [[0, 2], [1], [2]]


def test_squad_normalisation_and_multi_reference_em_f1():
    assert squad_normalise("The  Beatles!") == "beatles"
    assert exact_match("the beatles", ["Beatles", "John Lennon"]) == 1.0
    assert exact_match("Lennon", ["Beatles", "John Lennon"]) == 0.0
    # token F1 against the best reference: "john lennon" vs "lennon": p=1/2, r=1 → 2/3
    assert token_f1("John Lennon", ["Beatles", "Lennon"]) == pytest.approx(2 / 3)
    assert token_f1("paul", ["Beatles", "Lennon"]) == 0.0


def test_text_metrics_use_every_reference():
    hyps = ["paris", "Rome"]
    one, _ = text_metrics(hyps, [["Paris"], ["Milan"]])
    many, items = text_metrics(hyps, [["Paris"], ["Milan", "Rome"]])
    assert one["exact_match"] == 50.0 and many["exact_match"] == 100.0
    assert items["chrf"][1] > 99 and many["chrf"] > one["chrf"]


def test_identity_offset_is_x_plus_mean_training_offset():
    g = torch.Generator().manual_seed(0)
    x, y, xt = torch.randn(20, 4, generator=g), torch.randn(20, 4, generator=g), torch.randn(5, 4, generator=g)
    expect = xt.numpy() + (y.numpy() - x.numpy()).mean(0)
    assert np.allclose(B.identity_offset(x, y, xt).numpy(), expect, atol=1e-6)


def test_face_bypass_copies_the_input_face_and_has_no_parameters():
    bypass = B.FaceBypass(torch.tensor([0, 1, 2, 3]), torch.tensor([6, 7]))
    state = torch.zeros(1, 8, 2)
    state[0, :4] = torch.arange(8.0).view(4, 2)
    out = bypass(state)
    assert list(bypass.parameters()) == []
    assert out[0, 6].tolist() == [0.0, 1.0] and out[0, 7].tolist() == [4.0, 5.0]  # cells 0 and 2 (j·4//2)
    assert torch.equal(out[0, :6], state[0, :6])
