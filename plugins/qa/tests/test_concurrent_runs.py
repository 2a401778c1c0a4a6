"""Q→A runs started together share a fresh teacher cache safely, and each report pairs with its own
checkpoint (real parallel subprocesses). That run folders are created exclusively is tested on a task
that is not Q→A in tests/test_train_concurrent.py."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

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
limit = 80
[train]
epochs = 2
threads = 1
[evaluate]
baselines = ["identity"]
plot = false
[run]
tasks = ["train", "evaluate"]
progress = false
"""


def start(spec: Path, tmp: Path, *sets: str) -> subprocess.Popen:
    args = ["run", str(spec), "--set", f"run.checkpoint_dir={json.dumps(str(tmp / 'ck'))}",
            "--set", f"run.output_dir={json.dumps(str(tmp / 'runs'))}",
            "--set", f"tokenizer.cache_dir={json.dumps(str(tmp / 'cache'))}", *sets]
    return subprocess.Popen([sys.executable, "-m", "aa_core.cli", *args], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})


def test_parallel_runs_share_the_teacher_cache_and_report_their_own_checkpoint(tmp_path):
    spec = tmp_path / "s.toml"
    spec.write_text(SPEC.format(data=REPO / "examples" / "data" / "ml_qa.jsonl"))
    procs = [start(spec, tmp_path, "--set", "train.lr=0.001"), start(spec, tmp_path, "--set", "train.lr=0.01")]
    outs = [p.communicate(timeout=600) for p in procs]
    for p, (_out, err) in zip(procs, outs):
        assert p.returncode == 0, err
    assert len(list((tmp_path / "ck").iterdir())) == 2 and len(list((tmp_path / "runs").iterdir())) == 2
    for (out, _err) in outs:
        ckpt = next(line.split(": ", 1)[1] for line in out.splitlines() if line.startswith("checkpoint: "))
        report = next(line.split(": ", 1)[1].split(",")[0] for line in out.splitlines() if line.startswith("report: "))
        assert Path(ckpt).name == Path(report).parent.name  # report and checkpoint of the same run
    assert len(list((tmp_path / "cache").iterdir())) >= 1
