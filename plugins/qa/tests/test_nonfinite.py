"""Non-finite training: a NaN/inf loss stops the run naming epoch and batch (exit 2), and a checkpoint
with non-finite weights is never written."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from aa_core.checkpoint import save_checkpoint
from aa_core.plugin import UserError
from aa_core.spec import validate

REPO = Path(__file__).resolve().parents[3]

SPEC = """
[geometry]
size = [2, 2, 2]
[cell]
channels = 4
hidden = 8
[propagator]
steps = 1
[data]
path = "{data}"
limit = 60
[train]
epochs = 3
lr = 1e38
grad_clip = 0.0
[run]
tasks = ["train"]
progress = false
"""


def test_nan_loss_stops_with_epoch_and_batch(tmp_path, aa):
    spec = tmp_path / "s.toml"
    spec.write_text(SPEC.format(data=REPO / "examples" / "data" / "ml_qa.jsonl"))
    r = aa("run", str(spec), "--set", f"run.checkpoint_dir={json.dumps(str(tmp_path / 'ck'))}")
    assert r.returncode == 2, r.stderr
    assert "non-finite" in r.stderr and "epoch" in r.stderr and "batch" in r.stderr and "Traceback" not in r.stderr
    for meta in (tmp_path / "ck").rglob("model.safetensors"):  # whatever was saved before is finite
        from safetensors.torch import load_file

        assert all(torch.isfinite(t).all() for t in load_file(str(meta)).values())


def test_checkpoint_with_non_finite_weights_is_never_written(tmp_path):
    spec = validate({"geometry": {"size": [2, 2, 2]}, "cell": {"channels": 2, "hidden": 4}})
    from aa_core.assemble import build_model

    model, _ = build_model(spec)
    with torch.no_grad():
        next(model.parameters())[0] = float("nan")
    with pytest.raises(UserError, match="non-finite"):
        save_checkpoint(tmp_path / "c", model=model, spec=spec)
    assert not (tmp_path / "c").exists()
