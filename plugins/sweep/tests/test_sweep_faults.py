"""A sweep's trials never outlive it, and a trial folder whose process lives is never deleted:
real sweeps killed with SIGKILL / SIGTERM, real orphan processes, a real claims database."""
from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from aa_sweep import trial as T
from aa_sweep.claims import Claims, engine_for, owner_id, process_alive, process_id

sys.path.insert(0, str(Path(__file__).parent))
from test_sweep import _complete, _spec, _sweep  # noqa: E402 - the same tiny spec and command line

SLEEPER = "import time; print('up', flush=True); time.sleep(600)"


def _dead_pid() -> int:
    p = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(p.stdout)


@pytest.fixture
def orphan():
    """A real live process standing for a trial left running by a killed sweep."""
    proc = subprocess.Popen([sys.executable, "-c", SLEEPER], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "up"
    yield proc
    proc.kill()
    proc.wait()


def test_process_identity_tells_a_live_process_from_a_dead_or_reused_pid(orphan):
    ident = process_id(orphan.pid)
    assert process_alive(ident) is True
    host, pid, start = ident.split(":")
    assert process_alive(f"{host}:{pid}:{int(start) + 1}") is False  # same pid, another process (reused pid)
    assert process_alive(f"{host}:{_dead_pid()}:1") is False
    assert process_alive(f"another-host:{pid}:{start}") is None  # not ours to judge: the heartbeat decides


def test_a_claim_whose_trial_lives_is_not_taken_over_and_its_folder_is_not_deleted(tmp_path, orphan):
    url = f"sqlite:///{tmp_path / 'c.db'}"
    claims = Claims(engine_for(url), "s")
    dead_sweep = f"{os.uname().nodename}:{_dead_pid()}:0"
    assert claims.try_claim("k", dead_sweep)
    claims.set_trial("k", dead_sweep, process_id(orphan.pid))
    me = owner_id(0)
    assert not claims.try_claim("k", me)  # the sweep is dead but its trial still runs
    folder = tmp_path / "trials" / "k"
    (folder / "checkpoints").mkdir(parents=True)
    (folder / "log.txt").write_text("the orphan is still writing here")
    (folder / T.RECORD).write_text(json.dumps({"process": process_id(orphan.pid)}))
    with pytest.raises(T.Busy, match=str(orphan.pid)):
        T.run("unused.toml", [], folder)
    assert (folder / "log.txt").read_text() == "the orphan is still writing here" and (folder / "checkpoints").is_dir()
    orphan.kill()
    orphan.wait()
    assert claims.try_claim("k", me)  # once it has ended, the point is free again
    assert T.owner_of(folder) is None


def test_a_claims_table_of_an_older_sweep_gains_the_trial_column(tmp_path):
    db = tmp_path / "old.db"
    with sqlite3.connect(db) as c:  # the table as aa-sweep 0.1.0 created it
        c.execute("CREATE TABLE aa_sweep_claims (study VARCHAR(255) NOT NULL, key VARCHAR(64) NOT NULL, "
                  "owner VARCHAR(255) NOT NULL, heartbeat FLOAT NOT NULL, PRIMARY KEY (study, key))")
        c.execute("INSERT INTO aa_sweep_claims VALUES ('s', 'k0', 'h:1:0', 0.0)")
    claims = Claims(engine_for(f"sqlite:///{db}"), "s")
    me = owner_id(0)
    assert claims.try_claim("k1", me)
    claims.set_trial("k1", me, process_id())
    with sqlite3.connect(db) as c:
        assert c.execute("SELECT trial FROM aa_sweep_claims WHERE key = 'k1'").fetchone()[0] == process_id()


def _trial_pid(out: Path, deadline: float) -> int:
    while time.time() < deadline:
        for rec in (out / "trials").glob(f"*/{T.RECORD}") if (out / "trials").is_dir() else []:
            try:
                return int(json.loads(rec.read_text())["process"].split(":")[1])
            except (OSError, ValueError, KeyError):
                pass
        time.sleep(0.2)
    raise AssertionError("no trial started")


def _gone(pid: int, within: float) -> bool:
    end = time.time() + within
    while time.time() < end:
        if not process_alive(f"{os.uname().nodename}:{pid}:"):
            return True
        time.sleep(0.1)
    return False


@pytest.mark.slow
def test_kill_9_of_the_sweep_kills_its_trial_and_the_rerun_finishes(tmp_path):
    spec, out = _spec(tmp_path), tmp_path / "sweep"
    sweep = subprocess.Popen(_sweep(spec, out), cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    pid = _trial_pid(out, time.time() + 300)
    assert process_alive(f"{os.uname().nodename}:{pid}:") and os.getpgid(pid) == pid  # its own process group
    os.kill(sweep.pid, signal.SIGKILL)  # the sweep alone: nothing else signals the trial
    sweep.wait()
    assert _gone(pid, 10), "the trial outlived its sweep"
    done = subprocess.run(_sweep(spec, out), cwd=tmp_path, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
    assert len({t.user_attrs["key"] for t in _complete(out)}) == 4


@pytest.mark.slow
def test_sigterm_stops_the_sweep_and_its_trial_with_exit_143(tmp_path):
    spec, out = _spec(tmp_path), tmp_path / "sweep"
    sweep = subprocess.Popen(_sweep(spec, out), cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    pid = _trial_pid(out, time.time() + 300)
    sweep.send_signal(signal.SIGTERM)
    stdout, stderr = sweep.communicate(timeout=60)
    assert sweep.returncode == 143, stdout + stderr
    assert "stopped by SIGTERM" in stderr and "Traceback" not in stderr
    assert _gone(pid, 5)
    assert _complete(out) == [] or all(t.user_attrs["returncode"] == 0 for t in _complete(out))  # a killed trial is not recorded
