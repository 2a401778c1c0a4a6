"""Interrupting and resuming `aa run` for real: SIGKILL at a random moment, SIGTERM mid-epoch,
resume, and the final weights and metrics equal an uninterrupted run's (one thread, same machine)."""
from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from safetensors.torch import load_file

REPO = Path(__file__).resolve().parents[3]

SPEC = """
[geometry]
size = [4, 4, 3]
[cell]
name = "mlp"
channels = 8
hidden = 32
[propagator]
steps = 3
[data]
path = "{data}"
[train]
epochs = {epochs}
batch_size = 16
patience = 100
threads = 1
[run]
tasks = ["train"]
progress = false
"""


def write_spec(tmp_path: Path, epochs: int = 10) -> Path:
    spec = tmp_path / "spec.toml"
    spec.write_text(SPEC.format(data=REPO / "examples" / "data" / "ml_qa.jsonl", epochs=epochs))
    return spec


def aa_popen(*args: str) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "aa_core.cli", *args], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def run_to_end(*args: str) -> subprocess.CompletedProcess:
    p = aa_popen(*args)
    out, err = p.communicate(timeout=300)
    return subprocess.CompletedProcess(p.args, p.returncode, out, err)


def final_state(run_dir: Path) -> tuple[dict, dict]:
    best = run_dir / (run_dir / "best").read_text().strip()
    meta = json.loads((best / "metadata.json").read_text())
    return load_file(str(best / "model.safetensors")), {"metrics": meta["metrics"], "history": [
        {k: v for k, v in h.items()} for h in meta["history"]]}


def the_run_dir(parent: Path) -> Path:
    (d,) = [p for p in parent.iterdir() if p.is_dir()]
    return d


def wait_for(path: Path, proc: subprocess.Popen, timeout: float = 120) -> None:
    t0 = time.monotonic()
    while not path.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() - t0 < timeout, f"{path} never appeared"
        time.sleep(0.02)


def reference(tmp_path: Path, spec: Path) -> tuple[dict, dict]:
    r = run_to_end("run", str(spec), "--set", f"run.checkpoint_dir={json.dumps(str(tmp_path / 'ref'))}")
    assert r.returncode == 0, r.stderr
    return final_state(the_run_dir(tmp_path / "ref"))


def assert_same(a: tuple[dict, dict], b: tuple[dict, dict]) -> None:
    wa, ma = a
    wb, mb = b
    assert wa.keys() == wb.keys()
    for k in wa:
        assert (wa[k] == wb[k]).all(), f"weights {k} differ after resuming"
    assert ma == mb


def kill_and_resume(tmp_path: Path, spec: Path, kills: int, rng: random.Random) -> tuple[dict, dict]:
    parent = tmp_path / "killed"
    args = ["run", str(spec), "--set", f"run.checkpoint_dir={json.dumps(str(parent))}"]
    run_dir = None
    for _ in range(kills):
        p = aa_popen(*args)
        if run_dir is None:
            t0 = time.monotonic()
            while not parent.exists() or not any(parent.iterdir()):
                assert p.poll() is None and time.monotonic() - t0 < 120, p.communicate()
                time.sleep(0.02)
            run_dir = the_run_dir(parent)
            args = ["run", str(spec), "--resume", str(run_dir)]
        wait_for(run_dir / "last", p)  # at least one epoch saved, then kill at a random moment
        time.sleep(rng.uniform(0.0, 1.5))
        p.send_signal(signal.SIGKILL)
        p.wait()
    r = run_to_end(*args)
    assert r.returncode == 0, r.stderr
    return final_state(run_dir)


def test_sigkill_then_resume_gives_the_same_weights_and_metrics(tmp_path):
    spec = write_spec(tmp_path)
    assert_same(kill_and_resume(tmp_path, spec, kills=1, rng=random.Random(7)), reference(tmp_path, spec))


def test_sigterm_saves_mid_epoch_exits_143_and_resumes_exactly(tmp_path):
    spec = write_spec(tmp_path)
    parent = tmp_path / "term"
    p = aa_popen("run", str(spec), "--set", f"run.checkpoint_dir={json.dumps(str(parent))}")
    t0 = time.monotonic()
    while not parent.exists() or not any(parent.iterdir()):
        assert p.poll() is None and time.monotonic() - t0 < 120
        time.sleep(0.02)
    run_dir = the_run_dir(parent)
    wait_for(run_dir / "last", p)
    time.sleep(0.3)
    p.send_signal(signal.SIGTERM)
    out, err = p.communicate(timeout=120)
    assert p.returncode == 143, err
    assert "Resume with: aa run" in err and "Traceback" not in err
    assert "interrupted" in err  # after the current step (mid-epoch) or at the epoch's end, state saved
    r = run_to_end("run", str(spec), "--resume", str(run_dir))
    assert r.returncode == 0, r.stderr
    assert_same(final_state(run_dir), reference(tmp_path, spec))


def test_resume_refuses_other_training_settings_unless_allowed(tmp_path):
    spec = write_spec(tmp_path, epochs=2)
    r = run_to_end("run", str(spec), "--set", f"run.checkpoint_dir={json.dumps(str(tmp_path / 'c'))}")
    assert r.returncode == 0, r.stderr
    run_dir = the_run_dir(tmp_path / "c")
    r = run_to_end("run", str(spec), "--resume", str(run_dir), "--set", "train.lr=0.01")
    assert r.returncode == 2 and "train.lr" in r.stderr and "Traceback" not in r.stderr
    r = run_to_end("run", str(spec), "--resume", str(run_dir), "--set", "train.epochs=3", "--allow-change", "train.epochs")
    assert r.returncode == 0, r.stderr
    assert len(final_state(run_dir)[1]["history"]) == 3


@pytest.mark.slow
def test_sigkill_at_five_random_points(tmp_path):
    spec = write_spec(tmp_path, epochs=14)
    assert_same(kill_and_resume(tmp_path, spec, kills=5, rng=random.Random(11)), reference(tmp_path, spec))
