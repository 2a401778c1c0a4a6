"""Resuming a Q→A run: what the Q→A task adds to the core trainer's checkpoints survives an interruption.

The trainer's guarantees (SIGKILL / SIGTERM / SIGINT, exact resume, refusal of changed settings) are
tested on a task that is not Q→A in tests/test_train_resume.py; here one SIGTERM of a real `aa run`
on Q→A data, then `--resume`: the final weights, history, component state (extra.json: the fitted
tokenizer / decoder) and the abstention threshold equal an uninterrupted run's (one thread, same machine)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

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
epochs = 8
batch_size = 16
patience = 100
threads = 1
[run]
tasks = ["train"]
progress = false
"""


def aa_popen(*args: str) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "aa_core.cli", *args], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def final_state(run_dir: Path) -> tuple[dict, dict]:
    final = run_dir / "final"
    meta = json.loads((final / "metadata.json").read_text())
    extra = json.loads((final / "extra.json").read_text()) if (final / "extra.json").is_file() else None
    return load_file(str(final / "model.safetensors")), {"metrics": meta["metrics"], "history": meta["history"],
                                                          "abstention": meta["abstention"], "extra": extra}


def the_run_dir(parent: Path) -> Path:
    (d,) = [p for p in parent.iterdir() if p.is_dir()]
    return d


def wait_for(done, proc: subprocess.Popen, timeout: float = 300) -> None:
    t0 = time.monotonic()
    while not done():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() - t0 < timeout, "no checkpoint appeared"
        time.sleep(0.02)


def finish(*args: str) -> subprocess.CompletedProcess:
    p = aa_popen(*args)
    out, err = p.communicate(timeout=600)
    assert p.returncode == 0, out + err
    return subprocess.CompletedProcess(p.args, p.returncode, out, err)


def test_qa_state_survives_sigterm_and_resume(tmp_path):
    spec = tmp_path / "spec.toml"
    spec.write_text(SPEC.format(data=REPO / "examples" / "data" / "ml_qa.jsonl"))
    parent = tmp_path / "term"
    p = aa_popen("run", str(spec), "--set", f"run.checkpoint_dir={json.dumps(str(parent))}")
    wait_for(lambda: parent.is_dir() and any(parent.iterdir()) and (the_run_dir(parent) / "last").exists(), p)
    time.sleep(0.2)
    p.send_signal(signal.SIGTERM)
    _out, err = p.communicate(timeout=300)
    assert p.returncode == 143 and "Resume with: aa run" in err and "Traceback" not in err, err
    run_dir = the_run_dir(parent)
    assert not (run_dir / "final").exists()
    finish("run", str(spec), "--resume", str(run_dir))
    finish("run", str(spec), "--set", f"run.checkpoint_dir={json.dumps(str(tmp_path / 'ref'))}")
    (wa, ma), (wb, mb) = final_state(run_dir), final_state(the_run_dir(tmp_path / "ref"))
    assert wa.keys() == wb.keys() and wa
    for k in wa:
        assert bool((wa[k] == wb[k]).all()), f"weights {k} differ after resuming"
    assert ma == mb and ma["abstention"]["threshold"] is not None
