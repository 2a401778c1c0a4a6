"""What aa-qa adds to a spec: the qa_pairs dataset brings the qa objective, the sections it and the tasks read
are resolved only when used, `[ask] questions` (and the deprecated `[run] ask`), and `[data] folds / fold`."""
from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np
import pytest

from aa_core.run import BuildContext, load_spec, validate
from aa_qa.data import fold_assignment, fold_splits, load_data, validation_share

REPO = Path(__file__).resolve().parents[3]
QUICKSTART = REPO / "examples" / "quickstart.toml"
DATA = REPO / "examples" / "data" / "ml_qa.jsonl"
LATTICE = {"geometry": {"size": [2, 2, 2]}, "cell": {"name": "mlp", "channels": 4, "hidden": 8}, "propagator": {"steps": 1}}


def test_quickstart_resolves_the_same_with_run_ask_or_ask_questions(tmp_path):
    text = QUICKSTART.read_text()
    block = re.search(r"\[ask\]\nquestions = (\[.*?\])\n+", text, flags=re.S)
    assert block and "\nask = [" not in text  # the example uses the new form
    old = (text[: block.start()] + text[block.end():]).replace("[run]\n", f"[run]\nask = {block.group(1)}\n")
    old = old.replace('path = "data/ml_qa.jsonl"', f'path = "{DATA}"')
    assert "[ask]" not in old and "\nask = [" in old
    (tmp_path / "old.toml").write_text(old)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        new = load_spec(QUICKSTART)
    with pytest.warns(DeprecationWarning, match=r"'run.ask' moved to 'ask.questions'"):
        moved = load_spec(tmp_path / "old.toml")
    assert moved.resolved() == new.resolved()
    assert new.sections["ask"].questions[0] == "What is overfitting?"
    assert new.resolved()["objective"] == {"name": "qa"} and new.resolved()["dataset"] == {"name": "qa_pairs"}


def test_a_data_spec_gets_the_qa_objective_and_the_sections_it_reads():
    spec = validate({**LATTICE, "data": {"path": str(DATA)}, "run": {"tasks": ["train"]}})
    assert spec.components["objective"][0].component.name == "qa"
    assert {"data", "qa_loss"} <= set(spec.sections) and not {"evaluate", "ask"} & set(spec.sections)
    spec = validate({**LATTICE, "data": {"path": str(DATA)}, "run": {"tasks": ["train", "evaluate", "ask"]}})
    assert {"data", "qa_loss", "evaluate", "ask"} <= set(spec.sections) and spec.sections["ask"].questions == []


def test_a_spec_without_qa_parts_resolves_none_of_the_qa_sections():
    spec = validate({**LATTICE, "run": {"tasks": ["check"]}})
    assert not {"data", "qa_loss", "evaluate", "ask"} & set(spec.sections) and "objective" not in spec.components


@pytest.mark.parametrize(("data", "problem"), [({"fold": 1}, "needs data.folds"), ({"folds": 3, "fold": 3}, "must be 0…2"),
                                                ({"folds": 1}, "must be 2…50"), ({"folds": 3, "fold": -1}, "fold")])
def test_fold_settings_are_checked(data, problem):
    with pytest.raises(Exception, match=problem):
        validate({**LATTICE, "data": {"path": str(DATA), **data}})


def test_data_folds_alone_holds_out_fold_0():
    # what `aa sweep SPEC --param 'data.fold=…' --set data.folds=k` validates before its trials
    spec = validate({**LATTICE, "data": {"path": str(DATA), "folds": 4}})
    assert spec.sections["data"].fold == 0
    assert load_data(spec.sections["data"]).hash == load_data(validate({**LATTICE, "data": {"path": str(DATA), "folds": 4, "fold": 0}})
                                                              .sections["data"]).hash


def test_a_data_fold_is_one_fold_of_the_k_fold_split():
    base = {**LATTICE, "data": {"path": str(DATA), "split": [0.7, 0.2, 0.1], "seed": 3}}
    spec = validate({**base, "data": {**base["data"], "folds": 3, "fold": 1}, "run": {"tasks": ["train"]}})
    data = load_data(spec.sections["data"])
    everything = load_data(validate(base).sections["data"])
    pooled = everything.train + everything.validation + everything.test
    key = lambda p: (p.question, p.answer)  # noqa: E731
    train, val, test = ({key(p) for p in data.split(s)} for s in ("train", "validation", "test"))
    assert not (train & val or train & test or val & test)  # disjoint
    assert len(train) + len(val) + len(test) == len(pooled) and train | val | test == {key(p) for p in pooled}  # covering all pairs
    fold = fold_assignment(len(pooled), 3, 3)
    assert [key(p) for p in data.test] == [key(pooled[i]) for i in np.flatnonzero(fold == 1)]  # fold 1 is the test split, in order
    want = list(fold_splits(len(pooled), 3, 3, validation_share([0.7, 0.2, 0.1])))[1]  # what evaluate.folds = 3 trains fold 2 of 3 on
    assert [[key(p) for p in data.split(s)] for s in ("train", "validation", "test")] == [[key(pooled[i]) for i in ix] for ix in want]
    assert len(val) == round(2 / 9 * (len(pooled) - len(test)))
    ds = BuildContext(spec).build("dataset")  # the train task's dataset: the same fold
    assert ds.sizes() == data.sizes() and ds.hash == data.hash != everything.hash


def test_data_folds_and_evaluate_folds_are_refused_together():
    from aa_qa.prep import load_data_once

    spec = validate({**LATTICE, "data": {"path": str(DATA), "folds": 3, "fold": 0}, "evaluate": {"folds": 3},
                     "run": {"tasks": ["train", "evaluate"]}})
    with pytest.raises(Exception, match="evaluate.folds = 3 with data.folds = 3"):
        load_data_once(spec, {})
