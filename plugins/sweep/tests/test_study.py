"""aa sweep as the study runner, for real (subprocesses, the aa-digits example task): a reference row and a
parameter-matched baseline paired seed by seed, the reproducing commands, the selection rule (no test
metric as objective), and an interrupted study that resumes to the figures of an uninterrupted one."""
from __future__ import annotations

import csv
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from aa_core.plugin import UserError
from aa_sweep.budget import match, params_of

REPO = Path(__file__).resolve().parents[3]
DIGITS = str(REPO / "examples" / "digits.toml")
# a small version of the example: each trial trains in a few seconds on one thread
SMALL = ["geometry.size=[4,4,2]", "propagator.steps=2", "cell.channels=6", "cell.hidden=16", "dataset.split=[0.4,0.1,0.5]",
         "train.epochs=3", "train.lr=0.03", "train.patience=10", "run.progress=false"]
MLP = 'mlp: pipeline={name="flat_mlp"}'


def sweep(*args: str, cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "aa_core.cli", "sweep", *args], cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})


def sets(flag: str, values: list[str]) -> list[str]:
    return [a for v in values for a in (flag, v)]


def rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_budget_match_lands_within_ten_percent_and_says_when_it_cannot():
    target = params_of(DIGITS, SMALL)
    override, n = match(DIGITS, [*SMALL, 'pipeline={name="flat_mlp"}'], "pipeline.hidden", target)
    assert override.startswith("pipeline.hidden=[") and abs(n / target - 1) <= 0.10
    assert params_of(DIGITS, [*SMALL, 'pipeline={name="flat_mlp"}', override]) == n
    with pytest.raises(UserError, match="no value brings"):
        match(DIGITS, SMALL, "cell.hidden", 10)  # the lattice's other parts alone exceed 10 parameters
    with pytest.raises(UserError, match="no such key"):
        match(DIGITS, SMALL, "cell.width", target)


def test_a_study_pairs_a_matched_baseline_with_the_reference_and_every_row_reproduces(tmp_path):
    out = tmp_path / "study"
    done = sweep(DIGITS, "--seeds", "2", "--reference", DIGITS, *sets("--reference-set", SMALL), "--case", MLP,
                 "--match-params", "pipeline.hidden", *sets("--set", SMALL), "--workers", "2", "--out", str(out), cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    ref, mlp = rows(out / "results.csv")
    assert (ref["config"], mlp["config"]) == ("reference", "mlp") and ref["task"] == mlp["task"] == "digits8x8"
    assert ref["pipeline"] == "face_consensus" and ref["cell"] == "mlp" and mlp["pipeline"] == "flat_mlp" and mlp["cell"] == ""
    assert abs(int(mlp["params"]) / int(ref["params"]) - 1) <= 0.10 and ref["budget"] == mlp["budget"] == ref["params"]
    assert mlp["metric"] == "test_accuracy" and mlp["seeds"] == "0,1" and mlp["reference"] == "reference"
    a, b = ([float(v) for v in r["test_per_seed"].split(";")] for r in (mlp, ref))
    assert float(mlp["diff_mean"]) == pytest.approx(sum(x - y for x, y in zip(a, b)) / 2, abs=1e-4)
    assert float(mlp["diff_lo"]) <= float(mlp["diff_mean"]) <= float(mlp["diff_hi"]) and mlp["verdict"]
    assert "pipeline.hidden=" in mlp["command"] and mlp["command"].startswith("aa sweep ")
    md = (out / "results.md").read_text()
    assert "| reference |" in md and "Commands (one per row)" in md and mlp["command"] in md
    # a trial's own command gives the trial's test figure again (same seed, same machine, one thread)
    trial = next(r for r in rows(out / "runs.csv") if r["config"] == "mlp" and r["seed"] == "1")
    cmd = shlex.split(trial["command"])[1:] + ["--set", f"run.output_dir={json.dumps(str(tmp_path / 'again'))}",
                                               "--set", f"run.checkpoint_dir={json.dumps(str(tmp_path / 'again_ckpt'))}"]
    again = subprocess.run([sys.executable, "-m", "aa_core.cli", *cmd], cwd=tmp_path, capture_output=True, text=True, timeout=300,
                           env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert again.returncode == 0, again.stderr
    (metrics,) = (tmp_path / "again").glob("*/metrics.json")
    assert f"{json.loads(metrics.read_text())['test']['test_accuracy']:.4f}" == trial["test"]
    # merged into a curated CSV (rows keyed by task and settings), rendered by --render
    curated = tmp_path / "results.csv"
    again = sweep(DIGITS, "--seeds", "2", "--reference", DIGITS, *sets("--reference-set", SMALL), "--case", MLP, "--match-params",
                  "pipeline.hidden", *sets("--set", SMALL), "--out", str(out), "--table-only", "--into", str(curated), cwd=tmp_path)
    assert again.returncode == 0 and len(rows(curated)) == 2
    shown = sweep("--render", str(curated), cwd=tmp_path)
    assert shown.returncode == 0 and shown.stdout == md


@pytest.mark.parametrize("objective,why", [("test_accuracy", "validation metrics only"), ("val_acc", "does not report it")])
def test_an_objective_on_test_or_not_reported_exits_2_before_any_trial(tmp_path, objective, why):
    done = sweep(DIGITS, "--objective", objective, "--seeds", "1", *sets("--set", SMALL), "--out", str(tmp_path / "s"), cwd=tmp_path)
    assert done.returncode == 2 and why in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "s").exists()


def _running_with_checkpoints(out: Path, n: int, deadline: float) -> list[Path]:
    while time.time() < deadline:
        found = sorted(p.parent.parent.parent for p in out.glob("trials/*/checkpoints/*/last"))
        if len(found) >= n:
            return found
        time.sleep(0.2)
    raise AssertionError(f"fewer than {n} trials wrote a checkpoint")


@pytest.mark.slow
def test_ctrl_c_saves_the_running_trials_starts_no_queued_one_and_the_rerun_equals_an_uninterrupted_study(tmp_path):
    long = [*SMALL, "train.epochs=12"]
    args = [DIGITS, "--seeds", "3", *sets("--set", long), "--workers", "2"]
    proc = subprocess.Popen([sys.executable, "-m", "aa_core.cli", "sweep", *args, "--out", str(tmp_path / "a")], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    running = _running_with_checkpoints(tmp_path / "a", 2, time.time() + 300)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=90)
    assert proc.returncode == 130 and "stopped by SIGINT" in stderr and "Traceback" not in stderr, stdout + stderr
    trials = sorted((tmp_path / "a" / "trials").iterdir())
    assert len(trials) == 2 and trials == running  # the queued seed never started
    assert any("saved " in (t / "log.txt").read_text() for t in trials)  # a trial stopped mid-epoch saved at its step
    done = sweep(*args, "--out", str(tmp_path / "a"), cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert sum("resumed from" in (t / "log.txt").read_text() for t in running) >= 1
    fresh = sweep(*args, "--out", str(tmp_path / "b"), cwd=tmp_path)
    assert fresh.returncode == 0
    assert [r["test_per_seed"] for r in rows(tmp_path / "a" / "results.csv")] == [r["test_per_seed"] for r in rows(tmp_path / "b" / "results.csv")]
