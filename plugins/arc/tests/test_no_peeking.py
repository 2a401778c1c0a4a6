"""The test outputs are read only after every prediction is fixed: a spy on the solutions checks it."""
from __future__ import annotations

from pathlib import Path

import pytest

import aa_arc.task as arc_task
from aa_arc.ledger import FrozenPredictions, read_records
from aa_arc.score import Solutions
from aa_core.run import load_spec


class SpySolutions(Solutions):
    """Fails when a test output is read while the ledger lacks a prediction, or when it changes after a read."""

    def __init__(self, outputs, ledger: Path, ids: list[str]):
        super().__init__(outputs)
        self.ledger, self.ids, self.size = ledger, ids, None

    def read(self, task_id, frozen):
        records = read_records(self.ledger)
        assert all(t in records for t in self.ids), f"{task_id}'s output read before every prediction was written"
        size = self.ledger.stat().st_size
        assert self.size in (None, size), "the predictions changed after a test output was read"
        self.size = size
        return super().read(task_id, frozen)


def install_spy(spec_path: Path, monkeypatch) -> tuple[object, list[SpySolutions]]:
    spec = load_spec(str(spec_path))
    config = spec.sections["arc"]
    ledger = arc_task.run_folder(config, spec.source, spec.sections["run"].output_dir) / "predictions.jsonl"
    spies: list[SpySolutions] = []

    def make(outputs):
        spies.append(SpySolutions(outputs, ledger, list(config.task_ids)))
        return spies[-1]

    monkeypatch.setattr(arc_task, "Solutions", make)
    return spec, spies


def test_the_run_reads_outputs_only_after_the_predictions_are_fixed(tiny_spec, monkeypatch):
    spec, spies = install_spy(tiny_spec(), monkeypatch)
    arc_task.run_task(spec, {})
    assert {t for t, _ in spies[0].reads} == {"0d3d703e", "b1948b0a", "28bf18c6", "3aa6fb7a"}


def test_the_spy_catches_a_scoring_path_that_peeks(tiny_spec, monkeypatch):
    """A run that scores the first group as soon as it is written (before the others are predicted) fails."""
    spec, spies = install_spy(tiny_spec(group_size=1), monkeypatch)
    real = arc_task.predict_all

    def score_as_you_go(tasks, config, ledger, log=print):
        real(tasks[:1], config, ledger, log)
        spies[0].read(tasks[0].id, FrozenPredictions(ledger, [tasks[0].id]))
        real(tasks, config, ledger, log)

    monkeypatch.setattr(arc_task, "predict_all", score_as_you_go)
    with pytest.raises(AssertionError, match="before every prediction was written"):
        arc_task.run_task(spec, {})
