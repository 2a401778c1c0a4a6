"""`aa run --nproc 2` on a task that is not Q→A (tests/task_plugin): two real CPU processes (torchrun,
gloo) train the weights and metrics of one at the same global batch, rank 0 alone writes the run,
`--resume` works under torchrun; the lattice split over the ranks (``nca_parallel``) too.

A global batch of 5 splits unevenly (3 + 2), and the last batch of an epoch (256 = 51 · 5 + 1) leaves
rank 1 without a sample, so the loss scaling and the empty share are exercised. Signals and locks under
`aa run --nproc 2` (the digits example): SIGTERM to the launcher saves and stops every rank (exit 143),
kill -9 leaves no rank behind, a resume of a locked run folder exits 2 on every rank."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

TIMEOUT = 400


def weights_and_history(toy, stem: str) -> tuple[dict, list[dict]]:
    run_dir = toy.only_dir(toy.work / f"{stem}-ckpt")  # one run folder, however many processes
    weights, meta = toy.final(run_dir)
    return weights, meta["history"]


def assert_one_equals_two(toy, one: str, two: str) -> None:
    (wa, ha), (wb, hb) = weights_and_history(toy, one), weights_and_history(toy, two)
    diff = max(float((wa[k] - wb[k]).abs().max()) for k in wa)
    assert diff <= 1e-5, diff
    assert len(ha) == len(hb) == 2
    for a, b in zip(ha, hb):
        assert a.keys() == b.keys()
        for k in a:
            assert a[k] == pytest.approx(b[k], abs=1e-5), k
    assert ha[-1]["train_loss"] < ha[0]["train_loss"]  # it trained: not a comparison of two initial models


def test_two_processes_train_the_weights_of_one_and_resume(toy):
    train = {"epochs": 2, "batch_size": 5}
    one, two = toy.spec("one.toml", train=train), toy.spec("two.toml", train=train)
    r = toy.run("run", str(one))
    assert r.returncode == 0, r.stderr
    r = toy.run("run", str(two), "--nproc", "2", timeout=TIMEOUT)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.count("best epoch") == 1 and "rank 1: training done" in r.stdout  # rank 0 reports; rank 1 only trained
    assert_one_equals_two(toy, "one", "two")
    run_dir = toy.only_dir(toy.work / "two-ckpt")
    assert (run_dir / "last").read_text().strip() == "epoch-0002" and (run_dir / "final").is_dir()
    r = toy.run("run", str(two), "--nproc", "2", "--resume", str(run_dir), "--set", "train.epochs=3", "--allow-change", "train.epochs",
                timeout=TIMEOUT)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "resuming from" in r.stdout and (run_dir / "epoch-0003").is_dir()
    meta = json.loads((run_dir / "final" / "metadata.json").read_text())
    assert [h["epoch"] for h in meta["history"]] == [1, 2, 3]
    assert len(list((toy.work / "two-runs").glob("*/metrics.json"))) == 1


@pytest.mark.slow
def test_lattice_parallel_training_equals_one_process(toy):
    """propagator nca_parallel under torchrun: the lattice's slabs on two ranks, every rank the whole batch."""
    lattice = {"geometry": {"size": [4, 3, 2]}, "propagator": {"name": "nca_parallel", "steps": 2}, "train": {"epochs": 2}}
    one, two = toy.spec("lp1.toml", **lattice), toy.spec("lp2.toml", **lattice)
    r = toy.run("run", str(one))
    assert r.returncode == 0, r.stderr
    r = toy.run("run", str(two), "--nproc", "2", timeout=TIMEOUT)
    assert r.returncode == 0, r.stdout + r.stderr
    assert_one_equals_two(toy, "lp1", "lp2")


def test_batch_smaller_than_the_world_is_refused(toy):
    r = toy.run("run", str(toy.spec(train={"batch_size": 1})), "--nproc", "2", timeout=TIMEOUT)
    assert r.returncode != 0 and "train.batch_size = 1 is smaller than the 2 processes" in r.stderr


def test_nproc_without_a_train_task_is_refused(tmp_path, aa):
    spec = tmp_path / "check.toml"
    spec.write_text('[geometry]\nsize = [2, 2, 2]\n\n[run]\ntasks = ["check"]\n')
    r = aa("run", str(spec), "--nproc", "2", timeout=120)
    assert r.returncode == 2 and "has no train task" in r.stderr and "Traceback" not in r.stderr


# -- signals and locks under `aa run --nproc 2` (the digits example: real torchrun, real processes) -----------

REPO = Path(__file__).resolve().parents[1]
DIGITS = REPO / "examples" / "digits.toml"
SMALL = ["--set", "geometry.size=[4,4,2]", "--set", "propagator.steps=2", "--set", "dataset.split=[0.4,0.1,0.5]",
         "--set", "run.progress=false", "--set", "train.patience=100000", "--set", "train.threads=1"]


def _digits(tmp_path: Path, *args: str) -> list[str]:
    pytest.importorskip("aa_digits")
    folders = ["--set", f"run.checkpoint_dir={json.dumps(str(tmp_path / 'ck'))}", "--set", f"run.output_dir={json.dumps(str(tmp_path / 'runs'))}"]
    return [sys.executable, "-m", "aa_core.cli", "run", str(DIGITS), *SMALL, *folders, *args]


def _stat(pid: int) -> tuple[str, int, str] | None:
    """(state, parent pid, start time) of a live process from /proc, None when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return fields[0], int(fields[1]), fields[19]


def _descendants(pid: int) -> dict[int, str]:
    """pid → start time of every process below ``pid``."""
    parents = {int(p.name): s for p in Path("/proc").iterdir() if p.name.isdigit() and (s := _stat(int(p.name)))}
    out: dict[int, str] = {}
    todo = [pid]
    while todo:
        parent = todo.pop()
        for child, (_, ppid, start) in parents.items():
            if ppid == parent and child not in out:
                out[child] = start
                todo.append(child)
    return out


def _running(procs: dict[int, str], within_s: float = 10.0) -> list[int]:
    """The processes of ``procs`` still running (not zombies, not a new process with a reused pid) after ``within_s``."""
    deadline = time.time() + within_s
    while True:
        alive = [p for p, start in procs.items() if (s := _stat(p)) and s[0] != "Z" and s[2] == start]
        if not alive or time.time() > deadline:
            return alive
        time.sleep(0.2)


def _start(tmp_path: Path, *args: str) -> tuple[subprocess.Popen, Path]:
    log = tmp_path / "log.txt"
    with open(log, "w") as out:
        proc = subprocess.Popen(_digits(tmp_path, *args), cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})
    return proc, log


def _wait_for(proc: subprocess.Popen, log: Path, ready, timeout: float = 240) -> None:
    deadline = time.time() + timeout
    while not ready():
        assert proc.poll() is None and time.time() < deadline, log.read_text()
        time.sleep(0.2)


def test_sigterm_to_the_launcher_saves_stops_every_rank_and_resumes(tmp_path):
    """`aa run --nproc 2 & kill -TERM $!`: exit 143, a resumable checkpoint, no process left; --resume finishes it."""
    proc, log = _start(tmp_path, "--nproc", "2", "--set", "train.epochs=1000")
    try:
        _wait_for(proc, log, lambda: any((tmp_path / "ck").glob("*/last")))
        procs = _descendants(proc.pid)
        assert len(procs) >= 3, procs  # torchrun and its two ranks
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(timeout=120)
    finally:
        proc.kill()
    text = log.read_text()
    assert rc == 143, text
    assert _running(procs) == [], text
    (run,) = (tmp_path / "ck").iterdir()
    last = run / (run / "last").read_text().strip()
    assert (last / "train_state.json").is_file() and (last / "metadata.json").is_file()
    assert f"--nproc 2 --resume {run}" in text and "Traceback" not in text
    epoch = json.loads((last / "metadata.json").read_text())["epoch"] + 1  # the interrupted epoch, finished by the resume
    done = subprocess.run(_digits(tmp_path, "--nproc", "2", "--resume", str(run), "--set", f"train.epochs={epoch}",
                                  "--allow-change", "train.epochs"), cwd=tmp_path, capture_output=True, text=True, timeout=TIMEOUT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "resuming from" in done.stdout and len(json.loads((run / "final" / "metadata.json").read_text())["history"]) == epoch


def test_kill_9_of_the_launcher_leaves_no_rank(tmp_path):
    proc, log = _start(tmp_path, "--nproc", "2", "--set", "train.epochs=1000")
    try:
        _wait_for(proc, log, lambda: len(_descendants(proc.pid)) >= 3 and "training " in log.read_text())
        procs = _descendants(proc.pid)
        proc.kill()
        proc.wait(timeout=60)
    finally:
        proc.kill()
    assert _running(procs) == [], log.read_text()  # torchrun died with the launcher, the ranks with torchrun


HOLD = """
import sys, time
from aa_core.checkpoint import lock_run
lock_run(sys.argv[1], command="aa run held.toml --resume RUN")
print("held", flush=True)
time.sleep(600)
"""


def test_resume_of_a_locked_run_folder_exits_2_on_every_rank(tmp_path):
    first = subprocess.run(_digits(tmp_path, "--set", "train.epochs=1"), cwd=tmp_path, capture_output=True, text=True, timeout=TIMEOUT)
    assert first.returncode == 0, first.stderr
    (run,) = (tmp_path / "ck").iterdir()
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(run)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        r = subprocess.run(_digits(tmp_path, "--nproc", "2", "--resume", str(run), "--set", "train.epochs=2", "--allow-change",
                                   "train.epochs"), cwd=tmp_path, capture_output=True, text=True, timeout=TIMEOUT)
    finally:
        holder.kill()
        holder.wait()
    assert r.returncode == 2, r.stdout + r.stderr
    assert r.stderr.count(f"the run folder {run} is in use by pid {holder.pid}") == 2  # each rank says why it stopped
    assert "Traceback" not in r.stderr and not (run / "epoch-0002").exists()
