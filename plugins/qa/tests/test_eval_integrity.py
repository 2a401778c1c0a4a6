"""Evaluation cannot be fooled (issue 22), run as a user would (real `aa` subprocesses on a real checkpoint):
non-finite predictions are never scored (NaN ranks worst; the system is marked invalid, no numbers, no
verdicts; `aa ask` abstains and says why), `aa evaluate --checkpoint` refuses a data change that re-splits
the data unless --allow-change data, writes one new folder per evaluation naming the checkpoint, and a
question that is not UTF-8 ends with exit 2 naming it while the valid answers of the batch are kept."""
from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

REPO = Path(__file__).resolve().parents[3]
DATA = REPO / "examples" / "data" / "ml_qa.jsonl"
QUESTIONS = ["What is overfitting?", "What is dropout?"]


def diverged_copy(checkpoint: Path, dst: Path, scale: float = 1e30) -> Path:
    """A copy of ``checkpoint`` whose adapters' weights are scaled up: every weight stays finite (as after a run
    that skipped non-finite batches and ended with huge weights) and every prediction is NaN/inf. The
    metadata's weights hash is updated, so the copy loads like any checkpoint."""
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    shutil.copytree(checkpoint, dst)
    path = dst / "model.safetensors"
    with safe_open(str(path), "pt") as f:
        header = f.metadata()
    tensors = load_file(str(path))
    scaled = [k for k in tensors if k.startswith(("write.", "read."))]
    assert scaled, list(tensors)
    for k in scaled:
        tensors[k] = tensors[k] * scale
    assert all(torch.isfinite(t).all() for t in tensors.values())
    save_file(tensors, str(path), metadata=header)
    meta = json.loads((dst / "metadata.json").read_text())
    meta["weights"].update(sha256=hashlib.sha256(path.read_bytes()).hexdigest(), bytes=path.stat().st_size)
    meta["abstention"]["threshold"] = float("nan")  # what calibration on NaN confidences records (the lr=1e6 run did)
    (dst / "metadata.json").write_text(json.dumps(meta))
    return dst


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One small quick-start-like run folder (2 epochs, 40 pairs), trained by `aa run` in a subprocess."""
    import subprocess
    import sys

    import tomli_w

    tmp = tmp_path_factory.mktemp("integrity")
    spec = {
        "geometry": {"size": [2, 2, 2]}, "cell": {"name": "mlp", "channels": 4, "hidden": 8}, "propagator": {"steps": 2},
        "adapter": {"name": "learned_linear"}, "decoder": {"name": "phrase_bank"}, "pipeline": {"residual": True},
        "tokenizer": {"name": "teacher", "cache_dir": str(tmp / "teacher")},
        "data": {"path": str(DATA), "limit": 40, "split": [0.6, 0.2, 0.2], "seed": 0},
        "train": {"epochs": 2, "batch_size": 8, "seed": 7, "threads": 1},
        "evaluate": {"bootstrap": 50, "plot": False, "baselines": ["identity", "ridge"]},
        "run": {"tasks": ["train"], "output_dir": str(tmp / "runs"), "checkpoint_dir": str(tmp / "ckpt"), "progress": False},
    }
    (tmp / "spec.toml").write_text(tomli_w.dumps(spec))
    r = subprocess.run([sys.executable, "-m", "aa_core.cli", "run", str(tmp / "spec.toml")], cwd=REPO, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    (run_dir,) = (tmp / "ckpt").iterdir()
    return run_dir


@pytest.fixture(scope="module")
def diverged(trained, tmp_path_factory):
    best = trained / (trained / "best").read_text().strip()
    return diverged_copy(best, tmp_path_factory.mktemp("diverged") / "final")


def no_traceback(r) -> None:
    assert "Traceback" not in r.stderr and "Traceback" not in r.stdout, r.stderr


def strict_json(path: Path) -> dict:
    """The report as strict JSON: a NaN or Infinity token fails."""
    def refuse(token):
        raise AssertionError(f"{path}: non-finite number {token} in the JSON")
    return json.loads(path.read_text(), parse_constant=refuse)


def report_paths(stdout: str) -> tuple[Path, Path]:
    m = re.search(r"report: (\S+report\.json), (\S+report\.md)", stdout)
    assert m, stdout
    return Path(m.group(1)), Path(m.group(2))


# -- non-finite predictions ---------------------------------------------------------------------


def test_nan_prediction_ranks_last_not_first():
    from aa_qa.metrics import ranking_metrics, ranks

    candidates = torch.eye(4, 8, dtype=torch.float64)
    pred = candidates.clone()
    pred[1] = float("nan")
    pred[2, 0] = float("inf")
    r = ranks(pred, candidates, [[0], [1], [2], [3]])
    assert r.tolist() == [1, 4, 4, 1]  # NaN scores count as the worst, tied with every other NaN (ties count against)
    assert ranking_metrics(r)["recall_at_1"] == 0.5


def test_invalid_baseline_gets_no_numbers_and_no_verdict():
    """A baseline with non-finite predictions (real tensors through the evaluate task's own scoring path)."""
    from aa_qa import report as R
    from aa_qa.evaluate import score, split_valid, summary

    g = torch.Generator().manual_seed(0)
    answers = torch.randn(12, 16, generator=g)
    preds = {"lattice": answers + 0.3 * torch.randn(12, 16, generator=g), "identity": torch.randn(12, 16, generator=g),
             "ridge": torch.full((12, 16), float("nan"))}
    valid, invalid = split_valid(preds)
    assert set(invalid) == {"ridge"} and "12 of 12 predictions" in invalid["ridge"]
    items, totals, _ = score(valid, answers, answers.mean(0), [[f"answer {i}"] for i in range(12)], None)
    systems, paired = summary(items, totals, 50, 0, invalid=invalid, order=list(preds))
    assert list(systems) == ["lattice", "identity", "ridge"] and systems["ridge"] == {"invalid": invalid["ridge"]}
    assert set(paired) == {"identity"} and np.isfinite(systems["lattice"]["cosine"])
    report = {"systems": systems, "paired": paired, "history": {},
              "meta": {"split": "test", "spec": "s", "run_id": "r", "dataset_hash": "0" * 16, "sizes": {}, "lattice_params": 1, "decoder": "none"}}
    lines = R.comparison(report)
    assert "lattice vs ridge: no verdict: ridge is invalid (non-finite predictions)" in lines
    assert not any(("higher" in x or "lower" in x) and "ridge" in x for x in lines)
    md = R.markdown(report)
    assert "**ridge**: 12 of 12 predictions contain NaN or inf" in md and "| ridge |" not in md
    assert "ridge: INVALID, no numbers reported" in R.terminal_table(systems)


def test_diverged_checkpoint_is_reported_invalid_not_perfect(diverged, aa, tmp_path):
    r = aa("evaluate", "--checkpoint", str(diverged), "--set", f"run.output_dir={json.dumps(str(tmp_path / 'runs'))}", timeout=300)
    assert r.returncode == 0, r.stderr
    no_traceback(r)
    js, md = report_paths(r.stdout)
    report = strict_json(js)
    assert set(report["systems"]["lattice"]) == {"invalid"} and "NaN or inf" in report["systems"]["lattice"]["invalid"]
    assert report["paired"] == {} and {"identity", "ridge"} <= set(report["systems"])
    assert "lattice: no verdict against any baseline" in r.stdout
    assert "higher" not in r.stdout and "lower on" not in r.stdout
    text = md.read_text()
    assert "Invalid systems, no numbers reported" in text and "| lattice |" not in text and "higher" not in text.split("Systems:")[0]


def test_ask_abstains_on_a_non_finite_prediction(diverged, aa):
    r = aa("ask", "--checkpoint", str(diverged), "--json", *QUESTIONS, timeout=300)
    assert r.returncode == 0, r.stderr
    rows = [json.loads(line, parse_constant=lambda t: pytest.fail(f"non-finite {t} in aa ask --json")) for line in r.stdout.splitlines()]
    assert [x["question"] for x in rows] == QUESTIONS
    for x in rows:
        assert x["abstained"] is True and x["cosine"] is None and x["answer"] is None and "NaN or inf" in x["reason"]
    r = aa("ask", "--checkpoint", str(diverged), QUESTIONS[0], timeout=300)
    assert r.returncode == 0 and "abstained, no answer: the model's prediction is NaN or inf" in r.stdout and "nan" not in r.stdout


def test_served_model_abstains_on_a_non_finite_prediction(diverged):
    """`aa serve` of the diverged checkpoint: 200 with abstained = true, confidence null and the reason; /v1/models has no NaN."""
    import os
    import signal
    import socket
    import subprocess
    import sys
    import time

    import httpx

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "aa_core.cli", "serve", "--checkpoint", str(diverged), "--port", str(port)],
                            cwd=REPO, env=dict(os.environ), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        end = time.monotonic() + 180
        while True:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < end, "aa serve did not become ready"
            try:
                if httpx.get(url + "/health/ready", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        r = httpx.post(url + "/v1/answer/batch", json={"questions": QUESTIONS}, timeout=60)
        assert r.status_code == 200, r.text
        for a in r.json()["answers"]:
            assert a["abstained"] is True and a["confidence"] is None and a["answer"] == "" and "NaN or inf" in a["reason"]
            assert a["alternatives"] == []
        models = httpx.get(url + "/v1/models", timeout=30)
        assert models.status_code == 200, models.text
        info = json.loads(models.text, parse_constant=lambda t: pytest.fail(f"non-finite {t} in /v1/models"))["models"][0]
        assert info["abstention"]["threshold"] is None and "not finite" in info["abstention"]["note"]
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0


# -- aa evaluate --checkpoint: the data and the folder ------------------------------------------------


def test_evaluate_refuses_a_resplit_unless_allowed_and_then_says_so(trained, aa, tmp_path):
    out = ["--set", f"run.output_dir={json.dumps(str(tmp_path / 'runs'))}"]
    r = aa("evaluate", "--checkpoint", str(trained), "--set", "data.seed=7", *out, timeout=300)
    assert r.returncode == 2 and "data.seed: 0 in the checkpoint, 7 now" in r.stderr and "--allow-change data" in r.stderr, r.stderr
    no_traceback(r)
    assert not (tmp_path / "runs").exists()  # refused before any work: nothing written
    r = aa("evaluate", "--checkpoint", str(trained), "--set", "data.seed=7", "--allow-change", "data", *out, timeout=300)
    assert r.returncode == 0, r.stderr
    js, md = report_paths(r.stdout)
    statement = strict_json(js)["meta"]["data_changed"]
    m = re.search(r"(\d+) of its (\d+) questions were training or validation questions", statement)
    assert m and int(m.group(1)) > 0, statement  # the re-split test holds questions the model was trained on
    assert "The test split is not the training run's." in md.read_text() and "data.seed: 0 in the checkpoint, 7 now" in md.read_text()
    assert "NOTE: the test split is not the training run's" in r.stdout


def test_each_evaluation_writes_its_own_folder_naming_the_checkpoint(trained, aa, tmp_path):
    """Two checkpoints of one run, with the first one's folder name already taken by an earlier evaluation:
    every evaluation gets a new folder (the earlier one is untouched) and names its checkpoint."""
    runs = tmp_path / "runs"
    out = ["--set", f"run.output_dir={json.dumps(str(runs))}", "--set", 'evaluate.baselines=["identity"]']
    best = trained / (trained / "best").read_text().strip()
    epoch = sorted(p for p in trained.glob("epoch-*") if p != best)[0]
    earlier = runs / f"eval-{trained.name}-{best.name}"
    earlier.mkdir(parents=True)
    (earlier / "report.json").write_text("{}")
    seen = []
    for ckpt, folder in ((trained, best), (epoch, epoch)):
        r = aa("evaluate", "--checkpoint", str(ckpt), *out, timeout=300)
        assert r.returncode == 0, r.stderr
        js, md = report_paths(r.stdout)
        sha = json.loads((folder / "metadata.json").read_text())["weights"]["sha256"]
        ck = strict_json(js)["meta"]["checkpoint"]
        assert (ck["run_id"], ck["name"], ck["weights_sha256"]) == (trained.name, folder.name, sha)
        assert f"run `{trained.name}`, `{folder.name}`" in md.read_text() and sha in md.read_text()
        seen.append(js.parent)
    assert seen == [runs / f"{earlier.name}-1", runs / f"eval-{trained.name}-{epoch.name}"]
    assert (earlier / "report.json").read_text() == "{}"


def test_a_full_report_disk_keeps_the_finished_evaluation_and_says_where(trained, aa, tmp_path):
    """The report folder on a real full tmpfs (mounted here, root only): exit 2 naming the full disk and run.output_dir,
    the results printed and the report written elsewhere (strict JSON, naming the checkpoint), nothing left on the disk."""
    import errno
    import os
    import subprocess

    if os.geteuid() != 0:
        pytest.skip("a real full disk needs root to mount a small tmpfs")
    disk = tmp_path / "disk"
    disk.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(disk)], capture_output=True, text=True)
    if r.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.strip()}")
    try:
        with open(disk / "filler", "wb", buffering=0) as f:  # really full: written until the disk refuses
            with pytest.raises(OSError) as full:
                while True:
                    f.write(b"\0" * 4096)
        assert full.value.errno == errno.ENOSPC
        r = aa("evaluate", "--checkpoint", str(trained), "--set", f"run.output_dir={json.dumps(str(disk / 'runs'))}",
               "--set", 'evaluate.baselines=["identity"]', timeout=300)
        assert r.returncode == 2, r.stderr
        no_traceback(r)
        assert f"the disk holding {disk / 'runs'}" in r.stderr and "is full" in r.stderr and "run.output_dir" in r.stderr, r.stderr
        assert "\nlattice " in r.stdout  # the results were printed before the files were written
        where = Path(re.search(r"was written to (\S+) instead", r.stderr).group(1))
        report = strict_json(where / "report.json")
        assert report["meta"]["checkpoint"]["run_id"] == trained.name and (where / "report.md").is_file()
        assert [p for p in disk.rglob("*") if not p.is_dir()] == [disk / "filler"]  # nothing half-written on the full disk
        assert not list(disk.rglob("eval-*")) and not list(disk.rglob(".*"))  # nor the report's (empty) folder or staging
        shutil.rmtree(where, ignore_errors=True)
    finally:
        subprocess.run(["umount", "-l", str(disk)], capture_output=True)


# -- questions that are not UTF-8 --------------------------------------------------------------------

BAD = b"caf\xe9 question"


def test_non_utf8_question_argument_is_named_and_the_valid_ones_answered(trained, aa_bytes):
    r = aa_bytes("ask", "--checkpoint", str(trained), "--json", QUESTIONS[0].encode(), BAD)
    assert r.returncode == 2, r.stderr
    err = r.stderr.decode()
    assert "question argument 2" in err and "not valid UTF-8 (byte 0xe9 at position 3)" in err and "iconv" in err and "Traceback" not in err
    rows = [json.loads(line) for line in r.stdout.decode().splitlines()]
    assert [x["question"] for x in rows] == [QUESTIONS[0]] and rows[0]["answer"]
    r = aa_bytes("ask", "--checkpoint", str(trained), BAD)  # nothing valid: refused before the checkpoint is loaded
    assert r.returncode == 2 and b"question argument 1" in r.stderr and not r.stdout and b"Traceback" not in r.stderr


def test_non_utf8_line_on_stdin_keeps_the_batch_answers(trained, aa_bytes):
    lines = b"\n".join([QUESTIONS[0].encode(), BAD, b"", QUESTIONS[1].encode()]) + b"\n"
    r = aa_bytes("ask", "--checkpoint", str(trained), "--json", "-", stdin=lines)
    assert r.returncode == 2
    err = r.stderr.decode()
    assert "stdin line 2" in err and "2 answered above" in err and "Traceback" not in err, err
    rows = [json.loads(line) for line in r.stdout.decode().splitlines()]
    assert [x["question"] for x in rows] == QUESTIONS and all(x["answer"] for x in rows)


def test_non_utf8_question_to_inspect_is_refused_before_any_work(trained, aa_bytes, tmp_path):
    out = tmp_path / "pic.png"
    r = aa_bytes("inspect", "--checkpoint", str(trained), BAD, "--out", str(out))
    assert r.returncode == 2 and b"the question argument" in r.stderr and b"not valid UTF-8" in r.stderr, r.stderr
    assert b"Traceback" not in r.stderr and not out.exists()


@pytest.fixture
def aa_bytes():
    """`aa ARGS` with byte arguments and byte stdin (an undecodable argument as a shell passes it)."""
    import os
    import subprocess
    import sys

    def run(*args, stdin: bytes = b""):
        return subprocess.run([sys.executable, "-m", "aa_core.cli", *args], cwd=REPO, input=stdin, capture_output=True,
                              timeout=300, env={**os.environ, "LC_ALL": "C.UTF-8"})
    return run
