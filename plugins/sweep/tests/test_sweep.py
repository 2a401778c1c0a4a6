"""aa sweep: the search space, atomic claims, and real sweeps that are killed and resumed or
shared by two worker processes on one SQLite study."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest

from aa_core.plugin import UserError
from aa_sweep.claims import Claims, engine_for
from aa_sweep.space import Range, parse

REPO = Path(__file__).resolve().parents[3]
DATA = REPO / "examples" / "data" / "ml_qa.jsonl"


def test_grid_is_cases_times_params_times_seeds():
    sp = parse(["cell.hidden=4|8"], ["cube: geometry.size=[4,4,4]; cell.channels=8", "flat: geometry.size=[8,8,1]"], 3)
    grid = sp.grid()
    assert len(grid) == 2 * 2 * 3 and len({json.dumps(g, sort_keys=True) for g in grid}) == 12
    p = {"case": "cube", "cell.hidden": "8", "seed": "2"}
    assert sp.overrides(p) == ["geometry.size=[4,4,4]", "cell.channels=8", "cell.hidden=8", "train.seed=2"]


def test_ranges_need_a_search_and_bad_params_are_user_errors():
    sp = parse(["train.lr=log:1e-4..1e-2", "cell.hidden=8..64"], [], 2)
    assert sp.params["train.lr"] == Range(1e-4, 1e-2, log=True, integer=False)
    assert sp.params["cell.hidden"] == Range(8, 64, log=False, integer=True)
    with pytest.raises(UserError, match="range"):
        sp.grid()
    for bad in (["cell.hidden"], ["cell.hidden=4|8", "cell.hidden=16"], ["seed=1|2"], ["train.lr=3..1"]):
        with pytest.raises(UserError):
            parse(bad, [], 1)
    with pytest.raises(UserError, match="LABEL"):
        parse([], ["no colon here"], 1)


def test_a_point_is_claimed_once_and_a_dead_owners_claim_is_taken_over(tmp_path):
    url = f"sqlite:///{tmp_path / 'c.db'}"
    a, b = Claims(engine_for(url), "s"), Claims(engine_for(url), "s")
    me = f"{os.uname().nodename}:{os.getpid()}:0"
    assert a.try_claim("k1", me) and not b.try_claim("k1", me + "x")
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True).stdout.strip()
    assert a.try_claim("k2", f"{os.uname().nodename}:{dead}:0")
    assert b.try_claim("k2", me)  # the owner process has exited: its claim is stale
    a.release("k1", me)
    assert b.try_claim("k1", me)


def _spec(tmp: Path) -> Path:
    text = f"""
[geometry]
size = [2, 2, 2]
[cell]
name = "mlp"
channels = 4
hidden = 8
[propagator]
steps = 2
[adapter]
name = "learned_linear"
[pipeline]
residual = true
[tokenizer]
cache_dir = {json.dumps(str(tmp / "teacher"))}
[data]
path = {json.dumps(str(DATA))}
limit = 40
split = [0.6, 0.2, 0.2]
[train]
epochs = 1
batch_size = 8
[evaluate]
baselines = ["identity_offset"]
bootstrap = 50
[run]
progress = false
"""
    path = tmp / "tiny.toml"
    path.write_text(text)
    return path


def _sweep(spec: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "aa_core.cli", "sweep", str(spec), "--param", "cell.hidden=4|8", "--seeds", "2",
            "--reference", "identity_offset", "--out", str(out), "--no-plot"]


def _complete(out: Path) -> list[optuna.trial.FrozenTrial]:
    names = optuna.get_all_study_names(f"sqlite:///{out / 'study.db'}")
    study = optuna.load_study(study_name=names[0], storage=f"sqlite:///{out / 'study.db'}")
    return study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))


def test_killed_sweep_resumes_without_redoing_finished_trials(tmp_path):
    spec, out = _spec(tmp_path), tmp_path / "sweep"
    proc = subprocess.Popen(_sweep(spec, out), cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    deadline = time.time() + 300
    while time.time() < deadline and not ((out / "study.db").exists() and _safe_count(out) >= 1):
        time.sleep(1)
    os.killpg(proc.pid, signal.SIGKILL)  # the sweep and the trial it is running die at once
    proc.wait()
    before = {t.user_attrs["key"]: Path(t.user_attrs["log"]).stat().st_mtime_ns for t in _complete(out)}
    assert 1 <= len(before) < 4
    table = subprocess.run([*_sweep(spec, out), "--table-only"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert table.returncode == 0 and len(_complete(out)) == len(before)  # a table, nothing run
    assert (out / "results.md").is_file() and ", seed " not in table.stdout
    done = subprocess.run(_sweep(spec, out), cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    trials = _complete(out)
    keys = [t.user_attrs["key"] for t in trials]
    assert len(keys) == 4 and len(set(keys)) == 4
    for key, mtime in before.items():  # finished trials were not run again
        assert Path(next(t for t in trials if t.user_attrs["key"] == key).user_attrs["log"]).stat().st_mtime_ns == mtime
    assert done.stdout.count("seed ") == 4 - len(before)
    assert (out / "results.csv").is_file() and "cell.hidden=4" in (out / "results.md").read_text()


def _safe_count(out: Path) -> int:
    try:
        return len(_complete(out))
    except Exception:  # noqa: BLE001 - the study may not exist yet
        return 0


def test_two_workers_share_one_sqlite_study_without_duplicates(tmp_path):
    spec, out = _spec(tmp_path), tmp_path / "sweep"
    procs = [subprocess.Popen(_sweep(spec, out), cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for _ in range(2)]
    outputs = [p.communicate(timeout=600)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), outputs
    trials = _complete(out)
    keys = [t.user_attrs["key"] for t in trials]
    assert len(keys) == 4 and len(set(keys)) == 4
    ran = [o.count(", seed ") for o in outputs]
    assert sum(ran) == 4  # every point ran exactly once over both workers
    assert len(list((out / "trials").iterdir())) == 4


def test_user_sets_override_the_sweep_defaults_but_not_the_split():
    from aa_core.run import load_spec
    from aa_sweep.cli import fixed_overrides

    fixed = fixed_overrides(['run.tasks=["evaluate"]', "train.threads=2", 'evaluate.split="test"'], "validation")
    spec = load_spec(str(REPO / "examples" / "study" / "light.toml"), fixed)
    assert spec.sections["run"].tasks == ["evaluate"] and spec.sections["train"].threads == 2
    assert spec.sections["evaluate"].split == "validation" and spec.sections["evaluate"].plot is False
    assert fixed_overrides([], "test")[-1] == 'evaluate.split="test"'


def test_a_named_study_refuses_other_seeds_before_running_anything(tmp_path):
    spec, out = _spec(tmp_path), tmp_path / "sweep"
    base = [sys.executable, "-m", "aa_core.cli", "sweep", str(spec), "--param", "cell.hidden=4", "--reference", "identity_offset",
            "--out", str(out), "--no-plot"]
    first = subprocess.run([*base, "--seeds", "1"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stdout + first.stderr
    name = first.stdout.split()[1].rstrip(":")
    more = subprocess.run([*base, "--seeds", "2", "--study", name], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert more.returncode == 2, more.stdout + more.stderr
    assert "seed values ['0']" in more.stderr and "--study" in more.stderr and "Traceback" not in more.stderr
    assert len(_complete(out)) == 1 and len(list((out / "trials").iterdir())) == 1  # nothing ran
