"""aa inspect: the traced states obey the light cone, match the model's forward, and make a picture; a Q→A
checkpoint is pictured for a free-text question or a dataset example, with the decoded answer."""
from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from aa_core.run import build_model, validate
from aa_inspect.lattice_view import hop_from_face, picture, trace

REPO = Path(__file__).resolve().parents[3]


def tiny_spec(tmp: Path) -> dict:
    return {"geometry": {"size": [2, 2, 3]}, "cell": {"name": "mlp", "channels": 4, "hidden": 8}, "propagator": {"steps": 2},
            "adapter": {"name": "learned_linear"}, "decoder": {"name": "phrase_bank"}, "pipeline": {"name": "direct_embedding", "residual": True},
            "tokenizer": {"cache_dir": str(tmp / "teacher")},
            "data": {"path": str(REPO / "examples" / "data" / "ml_qa.jsonl"), "limit": 40, "split": [0.6, 0.2, 0.2]},
            "train": {"epochs": 2, "batch_size": 8, "threads": 1},
            "run": {"tasks": ["train"], "output_dir": str(tmp / "runs"), "checkpoint_dir": str(tmp / "ckpt"), "progress": False}}


def _model(neighbourhood: int = 26, steps: int = 3):
    torch.manual_seed(0)
    spec = validate({"geometry": {"size": [3, 3, 5], "neighbourhood": neighbourhood}, "cell": {"name": "mlp", "channels": 4, "hidden": 8},
                     "propagator": {"steps": steps}, "adapter": {"name": "learned_linear"}, "pipeline": {"name": "direct_embedding", "embedding_dim": 12, "residual": True}})
    return build_model(spec)[0]


def test_trace_matches_forward_and_respects_the_light_cone():
    for nb in (6, 26):
        model = _model(nb, steps=3)
        x = torch.randn(1, 12)
        tr = trace(model, x)
        assert tr["stepwise"] and tr["grids"].shape[0] == 4
        with torch.no_grad():
            assert torch.allclose(tr["prediction"], model(x), atol=1e-5)
        hop = hop_from_face(model.geometry, model.input_cells)
        drv = tr["driven"].norm(dim=-1)
        for t in range(4):
            assert float(drv[t][hop > t].abs().max()) == 0.0  # nothing travels faster than one hop per step
            assert float(drv[t][hop == min(t, 4)].max()) > 0.0  # and the front does move


def test_a_schedule_is_traced_one_update_at_a_time():
    """aa-mamba's schedule: every NCA step and the Mamba pass is a frame; the last frame is the forward."""
    pytest.importorskip("aa_mamba")
    torch.manual_seed(0)
    spec = validate({"geometry": {"size": [3, 3, 5]}, "cell": {"name": "mlp", "channels": 4, "hidden": 8},
                     "propagator": {"name": "schedule", "steps": ["nca:2", "mamba", "nca:1"]},
                     "adapter": {"name": "learned_linear"}, "pipeline": {"name": "direct_embedding", "embedding_dim": 12, "residual": True}})
    model = build_model(spec)[0]
    x = torch.randn(1, 12)
    tr = trace(model, x)
    assert tr["stepwise"] and tr["grids"].shape[0] == 5
    with torch.no_grad():
        assert torch.allclose(tr["prediction"], model(x), atol=1e-5)


def test_picture_is_written(tmp_path):
    model = _model()
    tr = trace(model, torch.randn(1, 12))
    out = picture(model, tr, "a question?", "an answer", tmp_path / "p.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 20_000


def test_aa_inspect_on_a_trained_checkpoint(tmp_path):
    from aa_core.run import run_spec

    run_spec(validate(tiny_spec(tmp_path)))
    ckpt = next((tmp_path / "ckpt").iterdir())
    r = subprocess.run([sys.executable, "-m", "aa_core.cli", "inspect", "--checkpoint", str(ckpt), "What is overfitting?",
                        "--out", str(tmp_path / "i.png"), "--animate", str(tmp_path / "i.gif")], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    assert lines[-4] == "Q: What is overfitting?" and lines[-3].startswith("A: ") and "(similarity " in lines[-3]
    assert lines[-2] == f"picture: {tmp_path / 'i.png'}" and lines[-1] == f"animation: {tmp_path / 'i.gif'}"
    assert (tmp_path / "i.png").stat().st_size > 20_000
    assert Path(tmp_path / "i.gif").read_bytes()[:3] == b"GIF"
    # a dataset example: the qa_pairs dataset describes the question and decodes the answer
    from aa_core.run import load_checkpoint
    from aa_qa.prep import load_data_once

    question = load_data_once(load_checkpoint(ckpt).spec, {}).test[1].question
    r = subprocess.run([sys.executable, "-m", "aa_core.cli", "inspect", "--checkpoint", str(ckpt), "--index", "1",
                        "--out", str(tmp_path / "e.png")], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    assert lines[-3] == f"Q: {question}" and lines[-2].startswith("A: ") and (tmp_path / "e.png").is_file()
    bad = subprocess.run([sys.executable, "-m", "aa_core.cli", "inspect", "--checkpoint", str(ckpt), "q", "--out", "x.jpg"],
                         capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr


def test_the_old_import_path_warns_and_still_works():
    sys.modules.pop("aa_qa.lattice_view", None)
    with pytest.warns(DeprecationWarning, match=r"aa_qa.lattice_view is deprecated .* aa_inspect.lattice_view"):
        old = importlib.import_module("aa_qa.lattice_view")
    assert old.trace is trace and old.picture is picture
