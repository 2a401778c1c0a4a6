"""End to end: `aa run` trains, evaluates and answers on a tiny spec; same seed → same metrics."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from aa_core.run import validate

REPO = Path(__file__).resolve().parents[3]
DATA = REPO / "examples" / "data" / "ml_qa.jsonl"
SYSTEMS = ["lattice", "random", "mean_answer", "identity", "identity_offset", "ridge", "nearest_neighbour", "mlp_same_params", "adapters_only"]
KEYS = ["cosine", "cosine_ci95", "centred_cosine", "recall_at_1", "recall_at_1_ci95", "recall_at_10", "mrr", "mrr_ci95",
        "exact_match", "token_f1", "bleu", "chrf", "rouge_l"]


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("teacher")


def tiny_spec(tmp: Path, cache: Path, tasks=("train", "evaluate")) -> dict:
    return {
        "geometry": {"size": [2, 2, 2]},
        "cell": {"name": "mlp", "channels": 4, "hidden": 8},
        "propagator": {"steps": 2},
        "adapter": {"name": "learned_linear"},
        "decoder": {"name": "phrase_bank"},
        "pipeline": {"residual": True},
        "tokenizer": {"cache_dir": str(cache)},
        "data": {"path": str(DATA), "limit": 40, "split": [0.6, 0.2, 0.2]},
        "train": {"epochs": 3, "batch_size": 8, "seed": 7, "threads": 1},
        "qa_loss": {"contrastive_weight": 0.5},
        "evaluate": {"bootstrap": 100, "plot": False},
        "run": {"tasks": list(tasks), "output_dir": str(tmp / "runs"), "checkpoint_dir": str(tmp / "ckpt"),
                "progress": False},
        "ask": {"questions": ["What is overfitting?"]},
    }


def test_same_seed_same_metrics(tmp_path, cache_dir, capsys):
    from aa_core.run import run_spec

    reports = []
    for i in range(2):
        spec = validate(tiny_spec(tmp_path / str(i), cache_dir))
        run_spec(spec)
        reports.append(json.loads(next((tmp_path / str(i) / "runs").glob("*/report.json")).read_text()))
    assert reports[0]["systems"] == reports[1]["systems"]
    assert reports[0]["history"] == reports[1]["history"]
    assert list(reports[0]["systems"]) == SYSTEMS
    for m in reports[0]["systems"].values():
        assert set(KEYS) <= set(m)
        assert m["cosine_ci95"][0] <= m["cosine"] <= m["cosine_ci95"][1]
    assert reports[0]["meta"]["oracle"] is False
    assert set(reports[0]["paired"]) == set(SYSTEMS[1:])
    assert reports[0]["paired"]["ridge"]["recall_at_1"]["verdict"] in ("higher", "lower", "no difference detected")
    assert "lattice vs ridge: " in capsys.readouterr().out

    # evaluate alone, from the saved checkpoint (run.resume), gives the same lattice numbers.
    raw = tiny_spec(tmp_path / "resume", cache_dir, tasks=("evaluate", "ask"))
    raw["run"]["resume"] = str(next((tmp_path / "0" / "ckpt").iterdir()))
    raw["evaluate"]["baselines"] = ["identity"]
    state: dict = {}
    from aa_qa.evaluate import evaluate

    evaluate(validate(raw), state)
    assert state["report"]["systems"]["lattice"] == reports[0]["systems"]["lattice"]

    # the MLP baseline's own settings (evaluate.mlp_*) replace the [train] ones and its size.
    raw["evaluate"].update(baselines=["mlp_same_params"], mlp_lr=0.01, mlp_epochs=1, mlp_hidden=5)
    state = {}
    evaluate(validate(raw), state)
    meta, D = state["report"]["meta"], 384
    assert (meta["mlp_hidden"], meta["mlp_params"], meta["mlp_lr"], meta["mlp_epochs"]) == (5, 5 * (2 * D + 1) + D, 0.01, 1)
    assert len(state["report"]["history"]["mlp_same_params"]) == 1
    assert reports[0]["meta"]["mlp_epochs"] == 3 and reports[0]["meta"]["mlp_lr"] == 3e-3


def test_aa_run_subprocess_writes_report_checkpoint_and_answers(tmp_path, cache_dir, aa):
    import tomli_w

    spec = tmp_path / "tiny.toml"
    raw = tiny_spec(tmp_path, cache_dir, tasks=("train", "evaluate", "ask"))
    raw["evaluate"]["plot"] = True
    spec.write_text(tomli_w.dumps(raw))
    r = aa("run", str(spec), "--set", "train.epochs=2", timeout=120)
    assert r.returncode == 0, r.stderr
    out = r.stdout
    m = re.search(r"report: (\S+report\.json), (\S+report\.md), (\S+report\.png)", out)
    assert m, out
    report = json.loads(Path(m.group(1)).read_text())
    assert len(report["history"]["lattice"]) == 2
    assert Path(m.group(3)).stat().st_size > 10_000
    assert "| lattice |" in Path(m.group(2)).read_text()
    assert "Q: What is overfitting?" in out and "similarity" in out
    assert "nearest_neighbour" in out and "BLEU signature: nrefs:1" in out
    run_dir = next((tmp_path / "ckpt").iterdir())
    best = run_dir / (run_dir / "best").read_text().strip()  # the run folder's best checkpoint (after training: final/)
    assert best.name == "final" and (best / "model.safetensors").is_file() and (best / "metadata.json").is_file()
    ckpt = run_dir  # commands take the run folder and follow its best pointer
    meta = json.loads((best / "metadata.json").read_text())
    assert meta["dataset_hash"] == report["meta"]["dataset_hash"]

    # The checkpoint answers again after a fresh load (the API `aa ask --checkpoint` uses).
    from aa_qa.ask import answer, restore_for_answers

    model, ctx, decoder = restore_for_answers(ckpt)
    (q, text, sim), = answer(model, ctx, decoder, ["What is overfitting?"])
    assert f"A: {text}" in out and -1.0 <= sim <= 1.0

    # `aa evaluate --checkpoint` rebuilds model + phrase bank and reports the same lattice numbers.
    r = aa("evaluate", "--checkpoint", str(ckpt), "--set", 'evaluate.baselines=["identity"]', "--set", "evaluate.plot=false", timeout=120)
    assert r.returncode == 0, r.stderr
    again = json.loads(Path(re.search(r"report: (\S+report\.json)", r.stdout).group(1)).read_text())
    assert list(again["systems"]) == ["lattice", "identity"]
    assert again["systems"]["lattice"]["cosine"] == pytest.approx(report["systems"]["lattice"]["cosine"], abs=1e-6)


def test_missing_data_file_exits_2(tmp_path, cache_dir, aa):
    import tomli_w

    raw = tiny_spec(tmp_path, cache_dir)
    raw["data"]["path"] = str(tmp_path / "nope.jsonl")
    (tmp_path / "s.toml").write_text(tomli_w.dumps(raw))
    r = aa("run", str(tmp_path / "s.toml"), timeout=120)
    assert r.returncode == 2 and "data file not found" in r.stderr and "Traceback" not in r.stderr
