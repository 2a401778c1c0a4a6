"""1D-ARC: the loader on the shipped data (skipped without ../shared/data), folds, augmentation, errors, the
objective, `aa run` (train, test, ca_report)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from aa_ca.arc1d_task import Arc1D, encode, load_task, task_names
from aa_ca.classifier_config import Arc1DConfig
from aa_core.plugin import UserError

REPO = Path(__file__).resolve().parents[3]
DATA = REPO.parent / "shared" / "data" / "1d-arc" / "dataset"
needs_data = pytest.mark.skipif(not DATA.is_dir(), reason=f"1D-ARC data not found at {DATA}")


@needs_data
def test_loader_reads_every_task():
    names = task_names(DATA)
    assert len(names) == 18 and "1d_move_1p" in names and "1d_recolor_oe" in names
    problems = load_task(DATA, "1d_scale_dp")
    assert len(problems) == 51 and all(len(p["pairs"]) == 4 for p in problems)
    assert problems[0]["name"] == "1d_scale_dp_0" and problems[10]["name"] == "1d_scale_dp_10"


@needs_data
def test_folds_partition_the_problems():
    tests, names = [], set()
    for fold in range(5):
        ds = Arc1D(Arc1DConfig(path=str(DATA), task="1d_move_2p", fold=fold))
        got = [p["name"] for p in ds.problems["test"]]
        tests += got
        split = {k: {p["name"] for p in v} for k, v in ds.problems.items()}
        assert not (split["train"] & split["test"]) and not (split["validation"] & split["test"])
        assert not (split["train"] & split["validation"])
        names |= split["train"] | split["validation"] | split["test"]
        assert ds.sizes() == {"train": 4 * 35, "validation": 4 * 5, "test": 10}
    assert len(tests) == len(set(tests)) == 50 == len(names)


@needs_data
def test_batch_encoding_and_colour_augmentation():
    ds = Arc1D(Arc1DConfig(path=str(DATA), task="1d_pcopy_mc", augment="colours"))
    plain = Arc1D(Arc1DConfig(path=str(DATA), task="1d_pcopy_mc"))
    idx = torch.arange(12)
    b, p = ds.batch("train", idx), plain.batch("train", idx)
    assert b["inputs"].shape == (12, ds.length, 10) and torch.equal(b["mask"], p["mask"])
    assert torch.equal(b["inputs"].sum(-1), b["mask"].float())  # one-hot inside the row, zero beyond it
    x, xp = b["inputs"].argmax(-1), p["inputs"].argmax(-1)
    for i in range(12):  # one permutation of the colours 1-9 per sample, applied to input and output alike; 0 stays 0
        m = p["mask"][i]
        mapping = {}
        for a, c in zip(xp[i][m].tolist() + p["targets"][i][m].tolist(), x[i][m].tolist() + b["targets"][i][m].tolist()):
            assert mapping.setdefault(a, c) == c
        assert mapping.get(0, 0) == 0
        assert len(set(mapping.values())) == len(mapping)


@needs_data
def test_objective_scores_whole_rows_and_cells():
    from aa_ca.arc1d_objective import RowColours

    ds, obj = Arc1D(Arc1DConfig(path=str(DATA), task="1d_move_1p")), RowColours()

    class Oracle(torch.nn.Module):  # a split's target colours as logits, whatever the input
        def __init__(self, split):
            super().__init__()
            self.targets = ds.data[split]["targets"]

        def forward(self, inputs, mask):
            return torch.nn.functional.one_hot(self.targets.clamp_min(0), 10).float()

    assert obj.validation_metrics(Oracle("validation"), ds) == {"val_accuracy": 1.0, "val_cell_accuracy": 1.0}
    test = obj.test_metrics(Oracle("test"), ds)
    assert test["test_exact_match"] == 1.0 and all(e["exact"] and e["prediction"] == e["target"] for e in test["examples"])


@needs_data
def test_errors_name_the_key(tmp_path):
    with pytest.raises(UserError, match="dataset.path"):
        Arc1D(Arc1DConfig(path=str(tmp_path / "missing")))
    with pytest.raises(UserError, match="dataset.task.*1d_move_1p"):
        Arc1D(Arc1DConfig(path=str(DATA), task="1d_move_1"))
    bad = tmp_path / "t"
    bad.mkdir()
    (bad / "t_0.json").write_text('{"train": []}')
    with pytest.raises(UserError, match="t_0.json"):
        Arc1D(Arc1DConfig(path=str(tmp_path), task="t", folds=1, validation=0))


@needs_data
def test_few_steps_through_aa_run(aa, tmp_path):
    r = aa("run", str(REPO / "examples/ca/arc1d.toml"), "--set", f"dataset.path={DATA}", "--set", "dataset.task=1d_move_3p",
           "--set", "train.steps=2", "--set", "train.eval_every=1", "--set", "train.batch_size=4", "--set", "propagator.steps=3",
           "--set", 'run.tasks=["train","test","ca_report"]',
           "--set", f"run.output_dir={tmp_path}/runs", "--set", f"run.checkpoint_dir={tmp_path}/ck", cwd=REPO, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "DeprecationWarning" not in r.stderr
    (report,) = (tmp_path / "runs").glob("*/report.json")
    data = json.loads(report.read_text())
    assert data["arc_task"] == "1d_move_3p" and data["published"] == {"1d_move_3p": 100.0}
    assert len(data["ours"]["problems"]) == 10 and 0.0 <= data["ours"]["exact_match"] <= 100.0
    assert (report.parent / "arc1d_grids.png").stat().st_size > 1000
    metrics = json.loads((report.parent / "metrics.json").read_text())
    assert metrics["selected"] == "val_cell_accuracy" and {"val_accuracy", "val_cell_accuracy"} <= set(metrics["history"][-1])
    assert len(metrics["test"]["examples"]) == 10 and data["ours"]["exact_match"] == round(100 * metrics["test"]["test_exact_match"], 2)


def test_missing_folder_exits_2(aa, tmp_path):
    r = aa("run", str(REPO / "examples/ca/arc1d.toml"), "--set", f"dataset.path={tmp_path}/nowhere",
           "--set", f"run.output_dir={tmp_path}/runs", "--set", f"run.checkpoint_dir={tmp_path}/ck", cwd=REPO, timeout=300)
    assert r.returncode == 2 and "dataset.path" in r.stderr and "Traceback" not in r.stderr


@needs_data
def test_the_demonstrations_protocol_trains_on_demonstrations_and_scores_every_test_pair():
    """CAX's protocol: the demonstration pairs of every problem train (those of `validation` problems validate),
    every problem's test pair is scored, and no test pair is among the training or validation pairs."""
    ds = Arc1D(Arc1DConfig(path=str(DATA), task="1d_move_2p", protocol="demonstrations"))
    problems = load_task(DATA, "1d_move_2p")
    assert ds.sizes() == {"train": 3 * 45, "validation": 3 * 5, "test": 50}
    assert {p["name"] for p in ds.problems["test"]} == {p["name"] for p in problems}
    for split in ("train", "validation"):  # the demonstrations of the split's problems, in order, and nothing else
        want = encode([pr for p in ds.problems[split] for pr in p["pairs"][:-1]], ds.length)
        assert torch.equal(ds.data[split]["colours"], want["colours"]) and torch.equal(ds.data[split]["targets"], want["targets"])
    assert torch.equal(ds.data["test"]["targets"], encode([p["pairs"][-1] for p in ds.problems["test"]], ds.length)["targets"])
    with pytest.raises(UserError, match="leave fold at 0"):
        from aa_core.run import validate

        validate({"dataset": {"name": "arc1d", "path": str(DATA), "protocol": "demonstrations", "fold": 2}}, source="<test>")
