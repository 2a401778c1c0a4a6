"""Data-parallel Q→A training: two real CPU processes (torchrun, gloo) equal one process at the same global batch.

What is Q→A's own: the contrastive loss's in-batch negatives come from the whole global batch, and
under `aa run --nproc 2` rank 0 embeds the data with the teacher once for all ranks. The trainer's
data-parallel and lattice-parallel training, `--resume` under torchrun and the refusals are tested
on a task that is not Q→A in tests/test_train_ddp.py.

The data are real (examples/data/ml_qa.jsonl through the teacher, embedded once here); the
global batch of 7 splits unevenly (4 + 3, and 2 + 1 for the last batch) and the contrastive
loss uses in-batch negatives, so the loss scaling and the shared negatives are exercised.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from aa_core.run import validate

HERE = Path(__file__).resolve().parent
DATA = HERE.parents[2] / "examples" / "data" / "ml_qa.jsonl"
WORKER = HERE / "ddp_worker.py"


def raw_spec(tmp: Path, cache: Path) -> dict:
    return {
        "geometry": {"size": [3, 3, 2]},
        "cell": {"name": "mlp", "channels": 4, "hidden": 8},
        "propagator": {"steps": 2},
        "adapter": {"name": "learned_linear"},
        "pipeline": {"residual": True},
        "tokenizer": {"cache_dir": str(cache)},
        "data": {"path": str(DATA), "limit": 40, "split": [0.6, 0.2, 0.2]},
        "train": {"epochs": 3, "batch_size": 7, "seed": 7, "threads": 1, "lr": 0.01},
        "qa_loss": {"contrastive_weight": 0.5},
        "evaluate": {"bootstrap": 50, "plot": False, "baselines": ["identity"]},
        "run": {"tasks": ["train"], "output_dir": str(tmp / "runs"), "checkpoint_dir": str(tmp / "ckpt"), "progress": False},
    }


@pytest.fixture(scope="module")
def embedded(tmp_path_factory) -> tuple[Path, Path]:
    from aa_core.run import BuildContext
    from aa_qa.data import load_data
    from aa_qa.train import embed_data

    tmp = tmp_path_factory.mktemp("ddp")
    raw = raw_spec(tmp, tmp / "teacher")
    spec = validate(raw)
    data = load_data(spec.sections["data"])
    e = embed_data(data, BuildContext(spec).tokenizer)
    (x, y), (xv, yv) = e["train"], e["validation"]
    torch.save({"x": x, "y": y, "xv": xv, "yv": yv, "answers": [p.answer for p in data.validation]}, tmp / "emb.pt")
    (tmp / "spec.json").write_text(json.dumps(raw))
    return tmp, tmp / "teacher"


def _train(tmp: Path, nproc: int, name: str, spec: str = "spec.json") -> dict:
    out = tmp / f"{name}.pt"
    args = [str(WORKER), str(tmp / spec), str(tmp / "emb.pt"), str(out)]
    cmd = [sys.executable, *args] if nproc == 1 else [sys.executable, "-m", "torch.distributed.run", "--standalone",
                                                        "--nproc-per-node", str(nproc), *args]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    return torch.load(out)


def test_two_processes_give_the_weights_and_metrics_of_one(embedded):
    tmp, _ = embedded
    one, two = _train(tmp, 1, "one"), _train(tmp, 2, "two")
    assert (one["world"], two["world"]) == (1, 2)
    diff = max(float((one["weights"][k] - two["weights"][k]).abs().max()) for k in one["weights"])
    assert diff <= 1e-5, diff
    moved = max(float((one["weights"][k] - v).abs().max()) for k, v in _initial(tmp).items())
    assert moved > 1e-3  # training changed the weights: the comparison is not between two copies of the initial model
    assert len(one["history"]) == len(two["history"]) == 3
    for a, b in zip(one["history"], two["history"]):
        assert a.keys() == b.keys()
        for k in a:
            assert a[k] == pytest.approx(b[k], abs=1e-5), k


def _initial(tmp: Path, name: str = "spec.json") -> dict:
    from aa_core.run import build_model

    spec = validate(json.loads((tmp / name).read_text()))
    torch.manual_seed(spec.sections["train"].seed)
    return build_model(spec)[0].state_dict()


def test_aa_run_nproc_2_writes_one_run(embedded, aa):
    import tomli_w

    tmp, cache = embedded
    raw = raw_spec(tmp / "cli", cache)
    raw["train"]["epochs"] = 2
    spec = tmp / "cli.toml"
    spec.write_text(tomli_w.dumps(raw))
    r = aa("run", str(spec), "--nproc", "2", timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    runs = list((tmp / "cli" / "ckpt").iterdir())
    assert len(runs) == 1, runs  # rank 0 alone made the run folder and wrote the checkpoints
    run_dir = runs[0]
    assert {p.name for p in run_dir.iterdir() if p.is_dir()} >= {"epoch-0002", "final"}
    assert (run_dir / "last").read_text().strip() == "epoch-0002"
    assert r.stdout.count("best epoch") == 1  # rank 0 reports; rank 1 only trained
