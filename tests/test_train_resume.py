"""Interrupting and resuming `aa run` for real, on a task that is not Q→A (tests/task_plugin): SIGKILL at a
random moment, SIGTERM and SIGINT mid-run (exit 143 / 130, state saved), resume, and the final weights
and metrics equal an uninterrupted run's bit for bit (one thread, same machine); a resume with another
model, data or [train] setting is refused unless allowed."""
from __future__ import annotations

import random
import signal
import subprocess
import time
from pathlib import Path

import pytest


def assert_same(a: tuple[dict, dict], b: tuple[dict, dict]) -> None:
    (wa, ma), (wb, mb) = a, b
    assert wa.keys() == wb.keys() and wa
    for k in wa:
        assert wa[k].dtype == wb[k].dtype and bool((wa[k] == wb[k]).all()), f"weights {k} differ after resuming"
    assert ma == mb


EPOCHS = 12


def reference(toy, spec: Path) -> tuple[dict, dict]:
    r = toy.run("run", str(spec), "--set", f'run.checkpoint_dir="{toy.work / "ref"}"')
    assert r.returncode == 0, r.stderr
    return toy.final(toy.only_dir(toy.work / "ref"))


@pytest.fixture(scope="module")
def uninterrupted(task_env, tmp_path_factory, toy_task) -> tuple[dict, dict]:
    """The final state of an uninterrupted run of ``EPOCHS`` epochs."""
    toy = toy_task(task_env, tmp_path_factory.mktemp("ref"))
    return reference(toy, toy.spec(train={"epochs": EPOCHS}))


def wait_until(done, proc: subprocess.Popen, what: str, timeout: float = 120) -> None:
    t0 = time.monotonic()
    while not done():
        assert proc.poll() is None, (what, proc.communicate())
        assert time.monotonic() - t0 < timeout, f"{what} never happened"
        time.sleep(0.005)


def epochs_saved(run_dir: Path) -> int:
    """The epoch the ``last`` pointer names (0 before the first checkpoint)."""
    try:
        name = (run_dir / "last").read_text().strip()
    except FileNotFoundError:
        return 0
    return int(name.split("-")[1]) - (1 if name.startswith("step-") else 0)


def start_and_find_run(toy, spec: Path) -> tuple[subprocess.Popen, Path]:
    parent = Path(toy.work / "spec-ckpt")
    p = toy.popen("run", str(spec))
    wait_until(lambda: parent.is_dir() and any(parent.iterdir()), p, "a run folder")
    return p, toy.only_dir(parent)


def kill_and_resume(toy, spec: Path, epochs: int, kills: int, rng: random.Random) -> tuple[dict, dict]:
    """SIGKILL ``kills`` times, each after a random number of saved epochs (0: before the first checkpoint)
    plus a random part of an epoch, then resume to the end."""
    p, run_dir = start_and_find_run(toy, spec)
    for i in range(kills):
        if i:
            p = toy.popen("run", str(spec), "--resume", str(run_dir))
        target = rng.randint(epochs_saved(run_dir), epochs - 4)
        wait_until(lambda: epochs_saved(run_dir) >= target, p, f"epoch {target} saved")  # noqa: B023
        time.sleep(rng.uniform(0.0, 0.08))  # an epoch takes about 0.1 s: mid-epoch, mid-save or mid-validation
        p.send_signal(signal.SIGKILL)
        p.communicate()
        assert p.returncode == -signal.SIGKILL and not (run_dir / "final").exists()  # killed before the end
    r = toy.run("run", str(spec), "--resume", str(run_dir))
    assert r.returncode == 0, r.stderr
    return toy.final(run_dir)


def test_sigkill_at_a_random_moment_then_resume_gives_the_same_weights_and_metrics(toy, uninterrupted):
    spec = toy.spec(train={"epochs": EPOCHS})
    assert_same(kill_and_resume(toy, spec, EPOCHS, kills=1, rng=random.Random(7)), uninterrupted)


@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)], ids=["SIGTERM", "SIGINT"])
def test_a_stop_signal_saves_exits_143_or_130_and_resumes_exactly(toy, uninterrupted, sig, code):
    spec = toy.spec(train={"epochs": EPOCHS})
    p, run_dir = start_and_find_run(toy, spec)
    wait_until(lambda: epochs_saved(run_dir) >= 2, p, "two epochs saved")
    time.sleep(0.03)
    p.send_signal(sig)
    out, err = p.communicate(timeout=120)
    assert p.returncode == code, out + err
    assert "Resume with: aa run" in err and str(run_dir) in err and "Traceback" not in err
    last = (run_dir / "last").read_text().strip()
    if "interrupted at epoch" in err:  # after the current step, mid-epoch: a step checkpoint with the position in the epoch
        assert last.startswith("step-") and f"saved {run_dir / last}" in out
    else:  # the signal came while the epoch's checkpoint was written or validation ran
        assert "interrupted after epoch" in err and last.startswith("epoch-")
    assert (run_dir / last / "model.safetensors").is_file() and not (run_dir / "final").exists()
    r = toy.run("run", str(spec), "--resume", str(run_dir))
    assert r.returncode == 0 and "resuming from" in r.stdout, r.stderr
    assert_same(toy.final(run_dir), uninterrupted)


def test_resume_refuses_a_changed_model_data_or_train_setting_unless_allowed(toy):
    spec = toy.spec(train={"epochs": 2})
    r = toy.run("run", str(spec))
    assert r.returncode == 0, r.stderr
    run_dir = toy.only_dir(toy.work / "spec-ckpt")
    for change, named in ((["train.lr=0.02", "train.batch_size=16"], ["train.lr: 0.01 in the checkpoint, 0.02 now", "train.batch_size"]),
                          (["cell.hidden=16"], ["the model differs", "cell.hidden"]),
                          (["dataset.size=256"], ["the data differ: dataset hash"])):
        r = toy.run("run", str(spec), "--resume", str(run_dir), *[a for c in change for a in ("--set", c)])
        assert r.returncode == 2, r.stdout + r.stderr
        assert all(n in r.stderr for n in named) and "--allow-change" in r.stderr and "Traceback" not in r.stderr, r.stderr
    # allowed: a longer run; threads, device and compile are how it runs, not what it computes
    r = toy.run("run", str(spec), "--resume", str(run_dir), "--set", "train.epochs=3", "--allow-change", "train.epochs",
                "--set", "train.threads=2")
    assert r.returncode == 0, r.stderr
    assert [h["epoch"] for h in toy.final(run_dir)[1]["history"]] == [1, 2, 3]


@pytest.mark.slow
def test_sigkill_at_five_random_moments(toy):
    spec = toy.spec(train={"epochs": 24})
    assert_same(kill_and_resume(toy, spec, 24, kills=5, rng=random.Random(11)), reference(toy, spec))


def test_run_interrupted_survives_pickling():
    """A worker process (multiprocessing, concurrent.futures) can raise RunInterrupted to its parent:
    the exception pickles with its message and exit code (an unpicklable one hangs the parent's executor)."""
    import pickle

    from aa_core.plugin import RunInterrupted

    back = pickle.loads(pickle.dumps(RunInterrupted("interrupted after round 3", 130)))
    assert isinstance(back, RunInterrupted) and str(back) == "interrupted after round 3" and back.exit_code == 130


def test_user_errors_survive_pickling():
    """UserError and SpecError come back from a worker process with the same message and problems."""
    import pickle

    from aa_core import Problem, SpecError, UserError

    for err in (UserError("bad --seeds", [Problem("seeds", "not a number")], source="cli"),
                SpecError([Problem("cell.hidden", "must be > 0")], source="spec.toml")):
        back = pickle.loads(pickle.dumps(err))
        assert type(back) is type(err) and str(back) == str(err) and back.problems == err.problems, str(back)
