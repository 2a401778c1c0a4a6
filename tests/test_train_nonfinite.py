"""The non-finite guard through `aa run` on a task that is not Q→A (tests/task_plugin): a NaN/inf loss
or a diverging update stops the run naming the epoch and batch (exit 2, no checkpoint with non-finite
weights), ``train.nonfinite = "skip"`` skips such batches and finishes; a checkpoint with non-finite
weights is never written."""
from __future__ import annotations

import json
import re

import pytest
import torch
from safetensors.torch import load_file

from aa_core.checkpoint import save_checkpoint
from aa_core.plugin import UserError
from aa_core.spec import validate


def saved_weights_are_finite(parent) -> int:
    """How many checkpoints were saved under ``parent``; every one of them holds finite weights."""
    saved = list(parent.rglob("model.safetensors"))
    for f in saved:
        assert all(bool(torch.isfinite(t).all()) for t in load_file(str(f)).values()), f
    return len(saved)


def test_nan_loss_stops_naming_epoch_and_batch(toy):
    spec = toy.spec(dataset={"poison": 1})  # one NaN training example: the batch it falls in has a NaN loss
    r = toy.run("run", str(spec))
    assert r.returncode == 2, r.stdout + r.stderr
    assert re.search(r"non-finite loss \(NaN/inf\) at epoch 1, batch \d+; training stopped", r.stderr), r.stderr
    assert 'train.nonfinite = "skip"' in r.stderr and "Traceback" not in r.stderr
    assert saved_weights_are_finite(toy.work / "spec-ckpt") == 0  # stopped inside epoch 1: nothing saved


def test_diverging_weights_stop_and_no_non_finite_checkpoint_is_written(toy):
    spec = toy.spec(train={"lr": 1e38, "grad_clip": 0.0, "epochs": 3})
    r = toy.run("run", str(spec))
    assert r.returncode == 2, r.stdout + r.stderr
    assert "non-finite" in r.stderr and "epoch" in r.stderr and "batch" in r.stderr and "Traceback" not in r.stderr
    saved_weights_are_finite(toy.work / "spec-ckpt")  # whatever was saved before is finite


def test_skip_policy_skips_the_bad_batches_and_finishes(toy):
    spec = toy.spec(dataset={"poison": 3}, train={"epochs": 2, "nonfinite": "skip"})
    r = toy.run("run", str(spec))
    assert r.returncode == 0, r.stdout + r.stderr
    warnings = re.findall(r"warning: non-finite loss at epoch (\d), batch \d+: batch skipped, learning rate halved", r.stdout)
    assert sorted(set(warnings)) == ["1", "2"] and len(warnings) <= 6  # the 3 bad examples fall in 1 to 3 batches an epoch
    (metrics,) = (toy.work / "spec-runs").glob("*/metrics.json")
    m = json.loads(metrics.read_text())
    assert m["skipped_batches"] == len(warnings) and len(m["history"]) == 2
    assert all(h["val_accuracy"] > 0.25 for h in m["history"])  # the other batches trained it
    assert saved_weights_are_finite(toy.work / "spec-ckpt") >= 1


def test_checkpoint_with_non_finite_weights_is_never_written(tmp_path):
    spec = validate({"geometry": {"size": [2, 2, 2]}, "cell": {"channels": 2, "hidden": 4}})
    from aa_core.assemble import build_model

    model, _ = build_model(spec)
    with torch.no_grad():
        next(model.parameters())[0] = float("nan")
    with pytest.raises(UserError, match="non-finite"):
        save_checkpoint(tmp_path / "c", model=model, spec=spec)
    assert not (tmp_path / "c").exists()
