"""MNIST-1D: the generated data, the paper's baselines, the lattice classifier, the consensus objective and a few
steps through `aa run` (train, test, ca_report; the paper's fixed-order loop)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from aa_ca.baselines import CNNClassifier, MLPClassifier
from aa_ca.classifier import snake_order
from aa_ca.classifier_config import CNNClassifierConfig, MLPClassifierConfig, Mnist1DConfig
from aa_ca.mnist1d_task import Mnist1D

REPO = Path(__file__).resolve().parents[3]


def test_loader_sizes_and_split():
    ds = Mnist1D(Mnist1DConfig())
    assert ds.sizes() == {"train": 3500, "validation": 500, "test": 1000}
    b = ds.batch("validation", torch.arange(3))
    assert b["inputs"].shape == (3, 40, 1) and b["inputs"].dtype == torch.float32
    assert b["targets"].dtype == torch.long and set(ds.splits["test"][1].tolist()) == set(range(10))
    # validation is the tail of make_dataset's 4,000 training sequences, disjoint from the training split
    train_x = ds.splits["train"][0]
    assert not any(torch.equal(train_x[i], ds.splits["validation"][0][0]) for i in range(len(train_x)))
    assert Mnist1D(Mnist1DConfig()).hash == ds.hash != Mnist1D(Mnist1DConfig(validation=400)).hash


def test_shuffled_variant_is_one_fixed_permutation_of_the_positions():
    plain, shuffled = Mnist1D(Mnist1DConfig()), Mnist1D(Mnist1DConfig(shuffle=True))
    xp, xs = plain.splits["test"][0], shuffled.splits["test"][0]
    assert torch.equal(plain.splits["test"][1], shuffled.splits["test"][1])
    perm = [int(torch.nonzero((xp == xs[:, [j]]).all(0))[0]) for j in range(40)]  # the plain column equal to each shuffled one
    assert sorted(perm) == list(range(40)) and perm != list(range(40))
    assert torch.equal(xs, xp[:, perm])
    assert torch.equal(shuffled.splits["train"][0], plain.splits["train"][0][:, perm])


def test_baselines_have_the_papers_sizes():
    assert sum(p.numel() for p in MLPClassifier(MLPClassifierConfig()).parameters()) == 15210
    assert sum(p.numel() for p in CNNClassifier(CNNClassifierConfig()).parameters()) == 5210
    out = CNNClassifier(CNNClassifierConfig())(torch.randn(4, 40, 1))
    assert out.shape == (4, 1, 10)


def test_mlp_baseline_is_the_papers_residual_mlp():
    torch.manual_seed(0)
    m, x = MLPClassifier(MLPClassifierConfig()), torch.randn(3, 40, 1)
    h = m.hidden[0](x.flatten(1)).relu()
    h = h + m.hidden[1](h).relu()  # MLPBase: h = h + linear2(h).relu()
    assert torch.allclose(m(x)[:, 0], m.out(h))
    plain = MLPClassifier(MLPClassifierConfig(residual=False))
    plain.load_state_dict(m.state_dict())
    assert not torch.allclose(plain(x), m(x))
    assert dict(MLPClassifierConfig(hidden=[100, 50]).check())["residual"].startswith("needs equal hidden widths")
    assert not dict(MLPClassifierConfig(hidden=[100, 50], residual=False).check())


@pytest.mark.parametrize("size", [(2, 4, 5), (40, 1, 1), (3, 3, 3)])
def test_snake_order_visits_every_cell_through_neighbours(size):
    order = snake_order(size)
    X, Y, Z = size
    assert sorted(order.tolist()) == list(range(X * Y * Z))
    coords = [((i // Z) // Y, (i // Z) % Y, i % Z) for i in order.tolist()]
    assert all(sum(abs(a - b) for a, b in zip(p, q)) == 1 for p, q in zip(coords, coords[1:]))


def test_consensus_objective_scores_every_model_alike():
    from aa_ca.mnist1d_objective import ConsensusClassification, consensus_accuracy
    from aa_core.protocols import TrainablePipeline

    ds, model, obj = Mnist1D(Mnist1DConfig()), MLPClassifier(MLPClassifierConfig()), ConsensusClassification()
    assert not isinstance(model, TrainablePipeline)  # the objective trains it, not the pipeline's own methods
    val, test = obj.validation_metrics(model, ds), obj.test_metrics(model, ds)
    assert list(val) == list(obj.metrics) == ["val_accuracy", "val_loss"] and list(test) == ["test_accuracy", "test_loss"]
    small = consensus_accuracy(model, ds, "test", batch_size=64)  # the figures do not depend on the batching
    assert test["test_accuracy"] == small["accuracy"] and abs(test["test_loss"] - small["loss"]) < 1e-5
    batch = ds.batch("train", torch.arange(8))
    assert torch.allclose(obj.training_loss(model, batch), model.training_loss(batch, None))


def test_few_steps_through_aa_run(aa, tmp_path):
    """train, test (read once, into metrics.json) and the report, which reuses the test figures."""
    spec = REPO / "examples/ca/mnist1d.toml"
    r = aa("run", str(spec), "--set", "train.steps=4", "--set", "train.eval_every=2", "--set", "train.batch_size=8",
           "--set", "propagator.steps=3", "--set", 'run.tasks=["train","test","ca_report"]',
           "--set", f"run.output_dir={tmp_path}/runs", "--set", f"run.checkpoint_dir={tmp_path}/ck", cwd=REPO, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "DeprecationWarning" not in r.stderr
    (report,) = (tmp_path / "runs").glob("*/report.json")
    data = json.loads(report.read_text())
    assert data["task"] == "mnist1d" and data["published"]["cnn"] == 94.0
    assert 0.0 <= data["ours"]["test_accuracy"] <= 100.0
    metrics = json.loads((report.parent / "metrics.json").read_text())
    assert metrics["selected"] == "val_accuracy" and metrics["mode"] == "max" and len(metrics["history"]) == 2
    assert set(metrics["test"]) == {"test_accuracy", "test_loss"} and metrics["test_info"]["examples"] == 1000
    assert data["ours"]["test_accuracy"] == round(100 * metrics["test"]["test_accuracy"], 2)


def test_a_diverged_run_has_its_report_marked_invalid(aa, tmp_path):
    """lr 1e6 with nonfinite = "skip": the report says the figures are invalid, and why, as metrics.json's test_info does
    (a run stopped because the weights became non-finite is refused with exit 2 instead, no traceback)."""
    r = aa("run", str(REPO / "examples/ca/mnist1d.toml"), "--set", "train.lr=1e6", "--set", 'train.nonfinite="skip"',
           "--set", "train.steps=20", "--set", "train.eval_every=10", "--set", 'run.tasks=["train","test","ca_report"]',
           "--set", f"run.output_dir={tmp_path}/runs", "--set", f"run.checkpoint_dir={tmp_path}/ck", cwd=REPO, timeout=600)
    assert "Traceback" not in r.stderr
    if r.returncode == 2:
        assert "non-finite" in r.stderr, r.stderr[-3000:]
        return
    assert r.returncode == 0, r.stderr[-3000:]
    (report,) = (tmp_path / "runs").glob("*/report.json")
    data = json.loads(report.read_text())  # strict JSON (json.loads takes NaN; the text must not hold it)
    assert "NaN" not in report.read_text() and "Infinity" not in report.read_text()
    metrics = json.loads((report.parent / "metrics.json").read_text())
    assert metrics["skipped_batches"] > 0 and metrics["test_info"]["valid"] is False
    assert data["valid"] is False and "non-finite" in data["why_invalid"] and data["verdict"].startswith("invalid")
    md = (report.parent / "report.md").read_text()
    assert "**INVALID**" in md and data["why_invalid"] in md
    assert "INVALID" in r.stdout


def test_the_papers_fixed_order_loop_is_a_spec_setting(tmp_path):
    """`aa run examples/ca/mnist1d_mlp.toml --set train.shuffle=false --set train.batch_size=100`: consecutive batches
    of the stored order, trained by the dataset's objective without a deprecated task form."""
    import warnings

    from aa_core.run import build_model, fit, load_spec

    spec = load_spec(REPO / "examples/ca/mnist1d_mlp.toml", ["train.shuffle=false", "train.batch_size=100", "train.steps=4",
                                                             "train.eval_every=2"])
    model, ctx = build_model(spec)
    dataset, objective = ctx.build("dataset"), ctx.build("objective")
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        result = fit(model, dataset, spec.sections["train"], objective=objective, progress=False)
    assert result["selected"] == "val_accuracy" and len(result["history"]) == 2


def test_mamba_schedule_rolls_out_one_update_at_a_time():
    """aa-mamba's schedule on the line: the roll-out is its NCA steps and Mamba passes in order, and both learn."""
    pytest.importorskip("aa_mamba")
    from aa_core.run import build_model, load_spec
    schedule = 'propagator={name="schedule",steps=["nca:2","mamba","nca:1"],nca={path="reference"},mamba={expand=1,d_state=8}}'
    spec = load_spec(REPO / "examples/ca/mnist1d.toml", [schedule, "cell.hidden=16"])
    model, ctx = build_model(spec)
    assert model.steps == ctx.propagator.period == 4
    torch.manual_seed(0)
    x = torch.randn(3, 40, 1)
    frames, state = model(x, trajectory=True)
    assert len(frames) == 4 and torch.equal(frames[-1], model(x))
    stepped = model.initial_state(x)
    for t in range(4):
        stepped = ctx.propagator.step_at(stepped, t)
    assert torch.allclose(stepped, state, atol=1e-5)
    frames[-1].mean(1).logsumexp(-1).sum().backward()
    mamba = ctx.propagator.stages[1]
    assert mamba.blocks[0][0].in_proj.weight.grad.abs().sum() > 0 and ctx.cell.fc1.weight.grad.abs().sum() > 0
