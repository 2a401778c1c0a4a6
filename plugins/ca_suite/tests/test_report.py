"""The published figures the reports compare against, the verdict and interval arithmetic, and when a run's figures are invalid."""
from __future__ import annotations

import pytest

from aa_ca.report import ARC1D_NCA_MEAN, ARC1D_RECOLOR, ARC1D_SOLVED, PUBLISHED, arc1d_verdict, mean_interval, published_table


def test_published_figures():
    assert PUBLISHED["mnist1d"] == {"logistic_regression": 32.0, "mlp": 68.0, "cnn": 94.0, "gru": 91.0}
    assert PUBLISHED["mnist1d_shuffled"] == {"mlp": 68.0, "cnn": 56.0, "gru": 57.0}
    assert PUBLISHED["self_classify"]["l2_noise_cell_accuracy_200"] == 95.3
    assert PUBLISHED["self_classify"]["l2_noise_agreement_200"] == 88.1
    arc = PUBLISHED["arc1d"]
    assert len(arc) == 18 and all(arc[t] == 100.0 for t in ARC1D_SOLVED) and all(arc[t] == 0.0 for t in ARC1D_RECOLOR)
    # the paper's mean is the mean of its 18 per-task figures (up to their rounding)
    assert sum(arc.values()) / 18 == pytest.approx(ARC1D_NCA_MEAN, abs=0.05)


def test_published_table_lists_every_figure():
    text = published_table()
    rows = [r for r in text.splitlines() if r.startswith("| ") and not r.startswith("| task")]
    assert len(rows) == sum(len(v) for v in PUBLISHED.values()) + 1
    assert "| arc1d | 1d_move_dp | 12 |" in text and "| mnist1d_shuffled | cnn | 56 |" in text


def test_arc1d_verdict():
    ours = {t: 100.0 for t in ARC1D_SOLVED} | {t: 0.0 for t in ARC1D_RECOLOR}
    assert arc1d_verdict(ours) == "reproduced"
    assert "1d_move_2p" in arc1d_verdict(ours | {"1d_move_2p": 94.0})
    assert "recolor above 10 %: 1d_recolor_oe" in arc1d_verdict(ours | {"1d_recolor_oe": 20.0})
    assert arc1d_verdict({"1d_move_1p": 100.0}).startswith("incomplete")


def test_mean_interval():
    assert mean_interval([1.0]) == (1.0, 0.0)
    m, h = mean_interval([1.0, 2.0, 3.0])
    assert m == 2.0 and h == pytest.approx(4.303 * 1.0 / 3**0.5)



def test_invalid_reason_from_the_state_the_metrics_file_or_a_nan_figure(tmp_path):
    import json

    from aa_ca.report import invalid_reason

    assert invalid_reason(tmp_path, {}, {"test_accuracy": 0.5}) is None
    assert "skipped 3 non-finite batches" in invalid_reason(tmp_path, {"train_result": {"skipped_batches": 3}}, {})
    assert "test_loss" in invalid_reason(tmp_path, {}, {"test_accuracy": 0.1, "test_loss": float("nan")})
    (tmp_path / "metrics.json").write_text(json.dumps({"skipped_batches": 0, "test_info": {"valid": False, "why_invalid": "why"}}))
    assert invalid_reason(tmp_path, {}, {}) == "why"  # a run tested earlier (tasks = ["test"], then ca_report)
