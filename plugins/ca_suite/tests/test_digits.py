"""Self-classifying digits: the data, the pool, dead cells and the fixed pixel, the objective (its settings from
[dataset]), and a few steps through `aa run` (train, test, ca_report)."""
from __future__ import annotations

import json
import tomllib
from pathlib import Path

import torch

from aa_ca.classifier_config import DigitsConfig
from aa_ca.digits_objective import SelfClassify, cell_loss
from aa_ca.digits_task import Digits
from aa_core.run import BuildContext, build_model, load_spec, validate

REPO = Path(__file__).resolve().parents[3]


def small_model(**cell):
    raw = tomllib.loads((REPO / "examples/ca/self_classify.toml").read_text())
    raw["cell"].update(cell)
    raw["run"]["tasks"] = ["check"]
    return build_model(validate(raw, "self_classify.toml"))[0]


def test_loader_splits_and_alive_mask():
    ds = Digits(DigitsConfig(pool_size=0))
    sizes = ds.sizes()
    assert sum(sizes.values()) == 1797 and sizes["test"] == 359 and sizes["validation"] == 180
    b = ds.batch("test", torch.arange(5))
    assert b["inputs"].shape == (5, 64, 1) and float(b["inputs"].max()) <= 1.0
    assert torch.equal(b["mask"], b["inputs"][..., 0] > 0)
    assert 0 < int(b["mask"].sum(1).min()) < 64


def test_dead_cells_stay_zero_and_the_pixel_stays_fixed():
    model = small_model()
    ds = Digits(DigitsConfig(pool_size=0))
    b = ds.batch("test", torch.arange(4))
    model.train()
    frames, state = model(b["inputs"], b["mask"], steps=6, trajectory=True)
    assert len(frames) == 6 and frames[0].shape == (4, 64, 10)
    assert float(state[~b["mask"]].abs().max()) == 0.0
    assert torch.equal(state[..., 0], b["inputs"][..., 0])


def test_pool_round_trip_and_replacement():
    model = small_model()
    ds = Digits(DigitsConfig(pool_size=16, replace=3, steps_min=2, steps_max=3))
    ds.setup(model, None)
    idx = torch.arange(8)
    b = ds.batch("train", idx)
    assert b["fresh"].all() and b["state"].shape == (8, 64, 20)
    loss = SelfClassify(ds.config).training_loss(model, b)
    loss.backward()
    ds.after_step(b, model)
    assert int(ds.pool_fresh[idx].sum()) == 3  # the rest continue from their written-back state
    kept = idx[~ds.pool_fresh[idx]]
    assert torch.equal(ds.pool_state[kept], b["final_state"][~ds.pool_fresh[idx]])
    saved = {k: v.clone() for k, v in ds.state_tensors().items()}
    other = Digits(DigitsConfig(pool_size=16))
    other.load_state_tensors(saved)
    assert torch.equal(other.pool_state, ds.pool_state) and torch.equal(other.pool_digit, ds.pool_digit)


def test_losses_count_alive_cells_only():
    logits = torch.zeros(1, 3, 10)
    logits[0, 0, 2] = 1.0
    mask = torch.tensor([[True, False, False]])
    assert float(cell_loss(logits, torch.tensor([2]), mask, "l2")) == 0.0
    assert float(cell_loss(logits, torch.tensor([3]), mask, "l2")) == 2.0
    assert float(cell_loss(logits, torch.tensor([2]), mask, "ce")) < float(cell_loss(logits, torch.tensor([3]), mask, "ce"))


def test_objective_reads_its_settings_from_the_dataset_table():
    spec = load_spec(REPO / "examples/ca/self_classify.toml", ["dataset.loss=ce", "dataset.eval_steps=3", "dataset.pool_size=0"])
    assert spec.components["objective"][0].component.name == "digits_self_classify"
    ctx = BuildContext(spec)
    objective, ds = ctx.build("objective"), ctx.build("dataset")
    assert objective.settings.loss == "ce" and objective.settings is spec.config("dataset")
    model = small_model()
    val = objective.validation_metrics(model, ds)
    assert list(val) == list(objective.metrics) == ["val_accuracy", "val_agreement"]
    c = objective.curves(model, ds, "validation")
    assert len(c["cell_accuracy"]) == 3 and val["val_accuracy"] == c["cell_accuracy"][-1]


def test_few_steps_through_aa_run(aa, tmp_path):
    r = aa("run", str(REPO / "examples/ca/self_classify.toml"), "--set", "train.steps=2", "--set", "train.eval_every=1",
           "--set", "train.batch_size=4", "--set", "dataset.eval_steps=6", "--set", "dataset.steps_min=2", "--set", "dataset.steps_max=3",
           "--set", 'run.tasks=["train","test","ca_report"]',
           "--set", f"run.output_dir={tmp_path}/runs", "--set", f"run.checkpoint_dir={tmp_path}/ck", cwd=REPO, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "DeprecationWarning" not in r.stderr
    (report,) = (tmp_path / "runs").glob("*/report.json")
    data = json.loads(report.read_text())
    assert data["task"] == "self_classify" and data["published"]["l2_noise_agreement_200"] == 88.1
    assert len(data["curves"]["cell_accuracy"]) == 6 and data["ours"]["eval_steps"] == 6
    assert (report.parent / "self_classify_frames.png").stat().st_size > 1000
    test = json.loads((report.parent / "metrics.json").read_text())["test"]
    assert test["curves"] == data["curves"] and data["ours"]["cell_accuracy_200"] == round(100 * test["test_cell_accuracy"], 2)
