"""The abstention threshold (aa_qa.abstain): calibration on validation predictions, storage in the
final checkpoint, and `aa ask` marking answers below it."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from aa_core.run import read_metadata
from aa_qa.abstain import calibrate, threshold


def test_calibrate_picks_the_lowest_threshold_reaching_the_target():
    conf = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4]
    right = [True, False, True, False, False, True]
    c = calibrate(conf, right, 0.5)
    # kept above each cut: 1/1, 1/2, 2/3, 2/4, 2/5, 3/6 -> the widest cut at >= 0.5 keeps all six
    assert c["threshold"] == 0.4 and c["reached"] and c["precision"] == 0.5 and c["coverage"] == 1.0
    c = calibrate(conf, right, 0.6)
    assert c["threshold"] == 0.7 and c["precision"] == pytest.approx(2 / 3) and c["coverage"] == 0.5


def test_calibrate_keeps_ties_together_and_reports_an_unreachable_target():
    c = calibrate([0.8, 0.8, 0.3], [True, False, False], 0.9)
    assert not c["reached"] and c["threshold"] == 0.8 and c["precision"] == 0.5 and c["coverage"] == pytest.approx(2 / 3)
    assert calibrate([], [], 0.5)["threshold"] is None


def test_calibrate_never_cuts_at_a_non_finite_confidence():
    nan, inf = float("nan"), float("inf")
    c = calibrate([0.9, nan, 0.7, inf, 0.5], [True, True, False, True, True], 0.5)
    # NaN/inf predictions are always abstained on: the cut is among the finite ones, coverage counts all five
    assert c["threshold"] == 0.5 and c["reached"] and c["precision"] == 2 / 3 and c["coverage"] == 3 / 5
    c = calibrate([nan, nan], [True, False], 0.5)
    assert c["threshold"] is None and not c["reached"] and "no finite confidence" in c["note"]
    assert threshold({"abstention": c}) is None
    json.dumps(c, allow_nan=False)  # nothing non-finite is stored in the checkpoint's metadata


def test_threshold_of_old_and_new_metadata():
    assert threshold({}) is None and threshold({"abstention": {"threshold": None}}) is None
    assert threshold({"abstention": {"threshold": 0.5}}) == 0.5


def test_final_checkpoint_stores_its_threshold_and_aa_ask_marks_abstentions(checkpoints):
    meta = read_metadata(checkpoints["a"])
    a = meta["abstention"]
    assert 0 < a["threshold"] < 1 and a["n"] == meta["data_sizes"]["validation"] and 0 < a["coverage"] <= 1
    r = subprocess.run([sys.executable, "-m", "aa_core.cli", "ask", "--checkpoint", str(checkpoints["a"]), "--json",
                        "What is overfitting?", "Who won the 1998 world cup?"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    assert [row["abstained"] for row in rows] == [row["cosine"] < a["threshold"] for row in rows]
    assert rows[1]["abstained"] is True
    r = subprocess.run([sys.executable, "-m", "aa_core.cli", "ask", "--checkpoint", str(checkpoints["old"]),
                        "Who won the 1998 world cup?"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and "abstained" not in r.stdout
