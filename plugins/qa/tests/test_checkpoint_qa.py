"""Train briefly, save, then `aa ask` / `aa evaluate` from the checkpoint in a fresh process."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from aa_core.run import load_spec

REPO = Path(__file__).resolve().parents[3]
pytestmark = pytest.mark.slow  # trains a small model (~30 s on 2 shared cores)

QUESTIONS = ["What is overfitting?", "Why do we use a validation set?"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    pytest.importorskip("aa_gmlp")
    pytest.importorskip("aa_phrase_bank")
    pytest.importorskip("aa_universal_adapter")
    from aa_core.run import run_spec
    from aa_qa.answering import answer

    tmp = tmp_path_factory.mktemp("qa")
    spec = load_spec(
        REPO / "examples" / "quickstart.toml",
        [
            f"data.path={json.dumps(str(REPO / 'examples' / 'data' / 'ml_qa.jsonl'))}",
            f"tokenizer.cache_dir={json.dumps(str(REPO / '.aa_cache' / 'teacher'))}",
            f"run.checkpoint_dir={json.dumps(str(tmp / 'checkpoints'))}",
            f"run.output_dir={json.dumps(str(tmp / 'runs'))}",
            "run.progress=false",
            "train.epochs=2",
            'run.tasks=["train"]',
        ],
    )
    state: dict = {}
    run_spec(spec, state)  # run.tasks = ["train"]: the core's train task with the qa_pairs dataset and the qa objective
    decoder = state["dataset"].decoder  # fitted by the qa_pairs dataset's setup before training
    in_memory = answer(state["model"], state["ctx"], decoder, QUESTIONS)
    return Path(state["checkpoint_dir"]), in_memory, tmp


def test_ask_from_checkpoint_matches_in_memory_model(trained, aa):
    directory, in_memory, tmp = trained
    r = aa("ask", "--checkpoint", str(directory), "--json", *QUESTIONS, cwd=tmp)
    assert r.returncode == 0, r.stderr
    got = [json.loads(line) for line in r.stdout.splitlines()]
    assert [(g["question"], g["answer"]) for g in got] == [(q, a) for q, a, _ in in_memory]
    assert [g["cosine"] for g in got] == pytest.approx([s for _, _, s in in_memory], abs=1e-6)


def test_checkpoint_records_training_provenance(trained):
    directory, _, _ = trained
    meta = json.loads((directory / "final" / "metadata.json").read_text())  # a run folder: its final checkpoint
    for key in ("dataset_hash", "training_time_s", "hyper_parameters", "metrics", "code_revision", "plugins", "spec", "model_hash"):
        assert meta.get(key) is not None, key
    assert {"aa-core", "aa-gmlp", "aa-phrase-bank", "aa-universal-adapter"} <= set(meta["plugins"])


@pytest.mark.slow
def test_evaluate_from_checkpoint(trained, aa):
    directory, _, tmp = trained
    r = aa("evaluate", "--checkpoint", str(directory), "--set", "evaluate.bootstrap=50", cwd=tmp)
    assert r.returncode == 0, r.stderr
    assert "report:" in r.stdout
