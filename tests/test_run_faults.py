"""Faults around run folders end in exit 2 with a clear message and leave nothing half-written:
a full disk (a real tmpfs mounted by the test, root only), a kill -9 while ``final/`` is rewritten
(a real process killed at random moments), two ``aa run --resume`` of one folder at once (real
CLI processes; the second names the holder, the lock dies with its holder)."""
from __future__ import annotations

import errno
import json
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import torch

from aa_core import UserError
from aa_core.assemble import build_model
from aa_core.checkpoint import (
    _disk,
    checkpoint_bytes,
    checkpoint_folder,
    free_bytes,
    load_checkpoint,
    lock_run,
    pointer,
    prune,
    replace_folder,
    require_free_space,
    save_checkpoint,
    set_pointer,
    write_files_or_elsewhere,
)
from aa_core.spec import validate

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "examples" / "data" / "ml_qa.jsonl"
LATTICE = {"geometry": {"size": [4, 4, 4]}, "cell": {"hidden": 16}, "propagator": {"steps": 2}}
BIG = {"geometry": {"size": [4, 4, 4]}, "cell": {"channels": 48, "hidden": 192}, "propagator": {"steps": 2}}


def _model(raw: dict = LATTICE, seed: int = 0):
    torch.manual_seed(seed)
    spec = validate(raw)
    model, _ = build_model(spec)
    return model, spec


def _du(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


# -- a real small file system ---------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path):
    """``make(size)`` mounts a fresh tmpfs of ``size`` (e.g. "2m") and returns its folder; unmounted
    at teardown. Skipped unless running as root where mounting is allowed."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        pytest.skip("a real full disk needs root to mount a small tmpfs")
    mounts: list[Path] = []

    def make(size: str) -> Path:
        where = tmp_path / f"disk{len(mounts)}"
        where.mkdir()
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)], capture_output=True, text=True)
        if r.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {r.stderr.strip()}")
        mounts.append(where)
        return where

    yield make
    for where in reversed(mounts):
        subprocess.run(["umount", "-l", str(where)], capture_output=True)


def fill(disk: Path, leave: int) -> Path:
    """Take all but about ``leave`` bytes of ``disk``'s free space with a filler file (really written:
    filled until the disk refuses, then cut back by ``leave``)."""
    filler = disk / f"filler-{uuid.uuid4().hex[:6]}"
    block = b"\0" * (1 << 16)
    with open(filler, "wb", buffering=0) as f:
        try:
            while True:
                f.write(block)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC, exc
        size = f.tell()
    os.truncate(filler, max(0, size - leave))
    return filler


# -- size estimate and free-space check -------------------------------------------------------


def test_checkpoint_size_estimate_is_within_10_percent_of_a_saved_training_checkpoint(tmp_path):
    from aa_core.train import state as train_state

    model, spec = _model(BIG)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    for p in model.parameters():  # one real step fills AdamW's moments
        p.grad = torch.randn_like(p)
    opt.step()
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)
    gen = torch.Generator().manual_seed(0)
    examples = 5000
    progress = train_state.Progress(epoch=1, order=torch.randperm(examples),
                                    best_state={k: v.clone() for k, v in model.state_dict().items()},
                                    history=[{"epoch": 1, "val_cosine": 0.5}])
    folder = save_checkpoint(tmp_path / "epoch-0001", model=model, spec=spec, metadata={"history": progress.history},
                             beside=lambda d: train_state.save(d, progress, opt, sched, gen))
    assert (folder / "train_state.safetensors").is_file() and (folder / "model.safetensors").is_file()
    measured, estimate = _du(folder), checkpoint_bytes(model, examples=examples)
    assert measured > 1 << 20  # big enough for the fixed allowances not to decide the ratio
    assert 1.0 <= estimate / measured <= 1.10, (estimate, measured)
    final = save_checkpoint(tmp_path / "final", model=model, spec=spec)
    assert 1.0 <= checkpoint_bytes(model, training_state=False) / _du(final) <= 1.10


def test_require_free_space_refuses_before_writing_anything(small_disk):
    disk = small_disk("1m")
    free = free_bytes(disk)
    assert require_free_space(disk, free // 2) == free
    with pytest.raises(UserError) as e:
        require_free_space(disk / "checkpoints", 5 * free, key="run.checkpoint_dir")
    msg = str(e.value)
    assert f"the disk holding {disk / 'checkpoints'} is full" in msg and "MiB free" in msg and "needs about" in msg
    assert "run.checkpoint_dir" in msg and not (disk / "checkpoints").exists()


# -- a save that meets a full disk -------------------------------------------------------------


def test_full_disk_during_a_save_removes_the_partial_folder_and_keeps_the_old_checkpoint(small_disk):
    disk = small_disk("4m")
    model, spec = _model(BIG)
    run = disk / "run"
    run.mkdir()
    save_checkpoint(run / "final", model=model, spec=spec, metadata={"v": 1})
    set_pointer(run, "best", "final")
    need = checkpoint_bytes(model, training_state=False)
    fill(disk, need // 2)
    model2, _ = _model(BIG, seed=1)
    with pytest.raises(UserError) as e:
        save_checkpoint(run / "final", model=model2, spec=spec, metadata={"v": 2})
    msg = str(e.value)
    assert f"the disk holding {run} is full" in msg and "a checkpoint needs about" in msg and "run.checkpoint_dir" in msg
    assert "partial final was removed" in msg and "--resume" in msg  # a run folder: how to continue
    assert sorted(p.name for p in run.iterdir()) == ["best", "final"]  # no staging folder, no temp file
    assert load_checkpoint(run).metadata["v"] == 1  # the old checkpoint, complete
    with pytest.raises(UserError, match="is full"):  # a new epoch folder: nothing of it stays
        save_checkpoint(run / "epoch-0002", model=model2, spec=spec)
    assert not (run / "epoch-0002").exists() and not list(run.glob(".*staging"))


def test_full_disk_while_writing_the_training_state_beside_it_removes_both(small_disk):
    """The trainer writes the training state inside the staged folder: a full disk there leaves no
    checkpoint without its training state."""
    disk = small_disk("4m")
    model, spec = _model(BIG)
    weights = checkpoint_bytes(model, training_state=False)

    def training_state(folder: Path) -> None:
        fill(disk, 4096)  # the disk fills up after the weights were written
        (folder / "train_state.safetensors").write_bytes(b"\0" * weights)

    with pytest.raises(UserError, match="is full"):
        save_checkpoint(disk / "epoch-0001", model=model, spec=spec, beside=training_state)
    assert [p.name for p in disk.iterdir() if not p.name.startswith("filler")] == []


def test_a_full_report_folder_keeps_the_report_elsewhere_and_says_where(small_disk, tmp_path):
    disk = small_disk("1m")
    fill(disk, 8192)
    report = {"systems": {"lattice": {"cosine": 0.5}}, "notes": "x" * 200_000}

    def write(folder: Path) -> dict[str, Path]:
        out = {"json": folder / "report.json", "markdown": folder / "report.md"}
        out["json"].write_text(json.dumps(report))
        out["markdown"].write_text("# report\n" + report["notes"])
        return out

    target = disk / "runs" / "run-1"
    with pytest.raises(UserError) as e:
        write_files_or_elsewhere(target, write, key="run.output_dir", elsewhere=[tmp_path / "ck" / "report"],
                                 dump=lambda: json.dumps(report))
    msg = str(e.value)
    assert f"the disk holding {target} is full" in msg and "run.output_dir" in msg
    assert f"Nothing was lost: the report was written to {tmp_path / 'ck' / 'report'} instead (report.json, report.md)" in msg
    assert json.loads((tmp_path / "ck" / "report" / "report.json").read_text()) == report
    assert not target.exists() and not list((disk / "runs").glob(".*"))  # nothing half-written on the full disk
    ok = write_files_or_elsewhere(tmp_path / "runs" / "run-2", write, key="run.output_dir")
    assert ok["json"] == tmp_path / "runs" / "run-2" / "report.json" and ok["json"].is_file()


# -- final/ replaced whole --------------------------------------------------------------------

KILL_LOOP = """
import json, os, sys, torch
from aa_core.assemble import build_model
from aa_core.checkpoint import save_checkpoint, set_pointer
from aa_core.spec import validate
spec = validate({raw!r})
models = []
for seed in (0, 1):
    torch.manual_seed(seed)
    models.append(build_model(spec)[0])
run = sys.argv[1]
meta = os.path.join(run, "final", "metadata.json")
i = json.load(open(meta))["i"] + 1 if os.path.exists(meta) else 0
while True:
    save_checkpoint(run + "/final", model=models[i % 2], spec=spec, metadata={{"i": i}})
    set_pointer(run, "best", "final")
    print("saved", i, flush=True)
    i += 1
"""


@pytest.mark.slow
def test_kill_9_while_final_is_rewritten_leaves_a_complete_checkpoint(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    script = tmp_path / "loop.py"
    script.write_text(KILL_LOOP.format(raw=BIG))
    rng = random.Random(0)
    seen = set()
    for _ in range(3):
        proc = subprocess.Popen([sys.executable, str(script), str(run)], stdout=subprocess.PIPE, text=True)
        proc.stdout.readline()
        t0 = time.perf_counter()
        proc.stdout.readline()
        cycle = time.perf_counter() - t0  # one save; the kill lands somewhere inside the next one
        time.sleep(rng.uniform(0.05, 0.95) * cycle)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        ckpt = load_checkpoint(run)  # verified: the weights are the ones its metadata describes
        assert torch.equal(ckpt.state_dict[next(iter(ckpt.state_dict))],
                           _model(BIG, seed=ckpt.metadata["i"] % 2)[0].state_dict()[next(iter(ckpt.state_dict))])
        seen.add(ckpt.metadata["i"])
        assert sorted(p.name for p in run.iterdir() if not p.name.startswith(".")) == ["best", "final"]
    assert len(seen) == 3  # every round saved more than once before its kill
    with lock_run(run):  # a staging folder cut short by the kill goes with the next prune of the folder's writer
        prune(run)
    assert sorted(p.name for p in run.iterdir()) == [".lock", "best", "final"]


def test_without_an_atomic_exchange_the_pointer_follows_the_complete_old_folder(tmp_path, monkeypatch):
    """Where the file system has no renameat2 exchange, the instant between the two renames is
    covered: the old folder, moved aside whole, is what ``best`` resolves to."""
    model, spec = _model()
    run = tmp_path / "run"
    run.mkdir()
    save_checkpoint(run / "final", model=model, spec=spec, metadata={"v": 1})
    set_pointer(run, "best", "final")
    aside = run / ".final.abcd.old"
    os.rename(run / "final", aside)  # what the fallback's first rename leaves if killed right after it
    assert pointer(run, "best") == aside and load_checkpoint(run).metadata["v"] == 1
    os.rename(aside, run / "final")
    monkeypatch.setattr(_disk, "_exchange", lambda a, b: False)
    save_checkpoint(run / "final", model=model, spec=spec, metadata={"v": 2})
    assert load_checkpoint(run).metadata["v"] == 2 and sorted(p.name for p in run.iterdir()) == ["best", "final"]


def test_a_failed_block_removes_its_staging_folder_and_keeps_the_old_one(tmp_path):
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "metadata.json").write_text("{}")
    with pytest.raises(RuntimeError), checkpoint_folder(tmp_path / "x") as tmp:
        (tmp / "metadata.json").write_text('{"new": 1}')
        raise RuntimeError("a bug while saving")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x"] and (tmp_path / "x" / "metadata.json").read_text() == "{}"
    src = tmp_path / "src"
    src.mkdir()
    (src / "a").write_text("new")
    replace_folder(src, tmp_path / "x")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x"] and (tmp_path / "x" / "a").read_text() == "new"


def test_saving_into_a_folder_with_other_files_is_refused(tmp_path):
    model, spec = _model()
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(UserError, match="holds other files"):
        save_checkpoint(tmp_path, model=model, spec=spec)
    assert (tmp_path / "notes.txt").read_text() == "mine"


# -- one writer per run folder ----------------------------------------------------------------

HOLD = """
import sys, time
from aa_core.checkpoint import lock_run
lock_run(sys.argv[1], command="aa run held.toml --resume RUN")
print("held", flush=True)
time.sleep(600)
"""


def test_run_lock_names_its_holder_and_dies_with_it(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(run)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(UserError) as e:
            lock_run(run)
        msg = str(e.value)
        assert f"pid {holder.pid} on host {os.uname().nodename}" in msg and "started 20" in msg and "held.toml" in msg
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    with lock_run(run) as lock:  # the kernel dropped the dead holder's lock
        assert json.loads((run / ".lock").read_text())["pid"] == os.getpid() == lock.holder["pid"]


TINY = """
[geometry]
size = [2, 2, 2]
[cell]
channels = 2
hidden = 4
[propagator]
steps = 1
[data]
path = {data}
limit = 40
[train]
epochs = {epochs}
patience = 100000
[run]
tasks = ["train"]
progress = false
checkpoint_dir = {ck}
output_dir = {out}
"""


def _tiny(tmp_path: Path, epochs: int, ck: Path) -> Path:
    spec = tmp_path / f"tiny-{epochs}.toml"
    spec.write_text(TINY.format(data=json.dumps(str(DATA)), epochs=epochs, ck=json.dumps(str(ck)),
                                out=json.dumps(str(tmp_path / "runs"))))
    return spec


def _aa(*args: str, cwd: Path) -> list[str]:
    return [sys.executable, "-m", "aa_core.cli", *args]


def _no_traceback(text: str) -> None:
    assert "Traceback" not in text and "is a bug" not in text, text


@pytest.mark.slow
def test_two_resumes_of_one_run_folder_at_once(tmp_path):
    ck = tmp_path / "ck"
    first = subprocess.run(_aa("run", str(_tiny(tmp_path, 1, ck)), cwd=tmp_path), cwd=tmp_path, capture_output=True, text=True,
                           timeout=600)
    assert first.returncode == 0, first.stderr
    (run,) = ck.iterdir()
    long_spec = _tiny(tmp_path, 100000, ck)
    resume = _aa("run", str(long_spec), "--resume", str(run), "--allow-change", "train.epochs", cwd=tmp_path)
    a = subprocess.Popen(resume, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.time() + 300
        while time.time() < deadline and a.poll() is None:
            try:
                if json.loads((run / ".lock").read_text()).get("pid") == a.pid and (run / "epoch-0002").is_dir():
                    break
            except (OSError, ValueError):
                pass
            time.sleep(0.2)
        assert a.poll() is None, a.stdout.read()
        b = subprocess.run(resume, cwd=tmp_path, capture_output=True, text=True, timeout=600)
        assert b.returncode == 2, b.stderr
        assert f"the run folder {run} is in use by pid {a.pid} on host {os.uname().nodename}, started" in b.stderr
        _no_traceback(b.stderr)
        assert a.poll() is None  # the first run goes on undisturbed
    finally:
        a.send_signal(signal.SIGKILL)
        a.wait()
    last = pointer(run, "last")
    assert last is not None and load_checkpoint(last).metadata["epoch"] >= 2  # kill -9 left a complete checkpoint
    with lock_run(run):  # and no stale lock
        pass


@pytest.mark.slow
def test_full_disk_at_start_exits_2_before_training(small_disk, tmp_path):
    disk = small_disk("1m")
    fill(disk, 16 * 1024)
    r = subprocess.run(_aa("run", str(_tiny(tmp_path, 2, disk / "ck")), cwd=tmp_path), cwd=tmp_path, capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "is full" in r.stderr and "needs about" in r.stderr and "run.checkpoint_dir" in r.stderr
    assert "checked before training started" in r.stderr and "training " not in r.stdout
    _no_traceback(r.stdout + r.stderr)
    assert not (disk / "ck").exists()  # refused before a run folder was made


@pytest.mark.slow
def test_full_disk_mid_training_exits_2_keeps_the_last_checkpoint_and_resumes(small_disk, tmp_path):
    disk = small_disk("8m")
    ck = disk / "ck"
    spec = _tiny(tmp_path, 100000, ck)
    proc = subprocess.Popen(_aa("run", str(spec), cwd=tmp_path), cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None and not (ck.is_dir() and any((d / "last").is_file() for d in ck.iterdir())):
        time.sleep(0.1)
    assert proc.poll() is None, proc.communicate()
    filler = fill(disk, 4096)  # mid-training: the next checkpoint cannot fit
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 2, out + err
    (run,) = ck.iterdir()
    assert f"the disk holding {run} is full" in err and "a checkpoint needs about" in err and "run.checkpoint_dir" in err
    assert f"--resume {run}" in err
    _no_traceback(out + err)
    names = sorted(p.name for p in run.iterdir())
    assert not [n for n in names if n.startswith(".") and n != ".lock"], names  # no staging folder, no temp file
    last = pointer(run, "last")
    assert last is not None and (last / "train_state.json").is_file()
    epoch = load_checkpoint(last).metadata["epoch"]
    filler.unlink()
    done = subprocess.run(_aa("run", str(_tiny(tmp_path, epoch + 2, ck)), "--resume", str(run), "--allow-change", "train.epochs",
                              cwd=tmp_path), cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert load_checkpoint(run).metadata["best_epoch"] >= 1 and (run / "final").is_dir()


def test_the_cli_tests_spec_is_valid(tmp_path):
    """A cheap guard for the slow CLI tests: their spec loads (a typo would make them fail for another reason)."""
    from aa_core.spec import load_spec

    spec = load_spec(str(_tiny(tmp_path, 3, tmp_path / "ck")))
    assert spec.sections["train"].epochs == 3 and spec.sections["run"].checkpoint_dir == str(tmp_path / "ck")


@pytest.mark.slow
def test_full_output_disk_after_training_puts_the_metrics_beside_the_checkpoint(small_disk, tmp_path):
    disk = small_disk("1m")
    fill(disk, 0)
    ck = tmp_path / "ck"
    spec = _tiny(tmp_path, 2, ck)
    r = subprocess.run(_aa("run", str(spec), "--set", f"run.output_dir={json.dumps(str(disk / 'runs'))}", cwd=tmp_path),
                       cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert r.returncode == 2, r.stdout + r.stderr
    (run,) = ck.iterdir()
    assert f"the disk holding {disk / 'runs' / run.name} is full" in r.stderr and "run.output_dir" in r.stderr
    assert f"the metrics file was written to {run / 'metrics'} instead (metrics.json)" in r.stderr
    _no_traceback(r.stdout + r.stderr)
    assert json.loads((run / "metrics" / "metrics.json").read_text())["best_epoch"] >= 1 and (run / "final").is_dir()
    left = [p for p in disk.rglob("*") if not p.name.startswith("filler") and (p.is_file() or p.name.startswith("."))]
    assert left == []  # nothing half-written on the full disk


# -- a run refused after its checks leaves no run folder ----------------------------------------------------

DIGITS = ["examples/digits.toml", "--set", "geometry.size=[4,4,2]", "--set", "propagator.steps=2", "--set", "dataset.split=[0.4,0.1,0.5]"]
REFUSED = {  # spec and overrides → what the refusal says; the NaN fails at its first training step, after the model was built,
    # the geometry when the spec is validated (the dataset's cross-component check: tests/test_cross_checks.py)
    "geometry": (["examples/ca/mnist1d.toml", "--set", "geometry.size=[39,1,1]"], "aa_ca", "holds fewer cells than the 40 positions"),
    "nan": ([*DIGITS, "--set", "train.lr=1e30"], "aa_digits", "non-finite loss (NaN/inf) at epoch 1"),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_a_run_refused_at_its_first_step_leaves_no_run_folder(case, tmp_path):
    args, plugin, message = REFUSED[case]
    pytest.importorskip(plugin)
    ck = tmp_path / "ck"
    where = ["--set", f"run.checkpoint_dir={json.dumps(str(ck))}", "--set", f"run.output_dir={json.dumps(str(tmp_path / 'runs'))}",
             "--set", "run.progress=false"]
    r = subprocess.run(_aa("run", str(REPO / args[0]), *args[1:], *where, cwd=tmp_path), cwd=tmp_path, capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 2 and message in r.stderr, r.stdout + r.stderr
    _no_traceback(r.stderr)
    assert not ck.exists() or list(ck.iterdir()) == []  # no empty checkpoints/<run-id>/ left behind
    assert not (tmp_path / "runs").exists()
    if case == "nan":  # a resumed folder is the user's: kept, even when it holds no checkpoint yet
        (ck / "kept").mkdir(parents=True)
        r = subprocess.run(_aa("run", str(REPO / args[0]), *args[1:], *where, "--resume", str(ck / "kept"), cwd=tmp_path), cwd=tmp_path,
                           capture_output=True, text=True, timeout=600)
        assert r.returncode == 2 and message in r.stderr and (ck / "kept").is_dir(), r.stderr


# -- the checkpoint-size estimate of a real run ---------------------------------------------------------------

VOXEL_DATA = REPO.parent / "shared" / "data" / "voxel-artefacts"
SIZED = {  # a tiny run of each; the voxel one keeps its 64-sample pool (most of its checkpoint), the digits one is mostly JSON
    "digits": (["examples/digits.toml", "geometry.size=[4,4,2]", "propagator.steps=2", "dataset.split=[0.4,0.1,0.5]",
                "train.epochs=2"], "aa_digits"),
    "voxel": (["examples/ca/voxel_growth.toml", "train.steps=2", "train.eval_every=1", "pipeline.steps=[2,3]", "pipeline.eval_steps=2"],
              "aa_ca"),
}


@pytest.mark.parametrize("case", sorted(SIZED))
def test_the_start_up_estimate_is_within_25_percent_of_a_real_checkpoint_folder(case, tmp_path):
    """The estimate the train task checks the disk with (``checkpoint_estimate``: weights, AdamW moments, best copy,
    shuffle order, a sample pool) against the bytes of the ``epoch-*`` folder the run wrote, training state included."""
    from aa_core.run import build_model
    from aa_core.spec import load_spec
    from aa_core.train.task import checkpoint_estimate

    (path, *overrides), plugin = SIZED[case]
    pytest.importorskip(plugin)
    if case == "voxel" and not VOXEL_DATA.is_dir():
        pytest.skip(f"the voxel structures are not here ({VOXEL_DATA})")
    ck = tmp_path / "ck"
    sets = [a for o in [*overrides, "run.progress=false", f"run.checkpoint_dir={json.dumps(str(ck))}",
                        f"run.output_dir={json.dumps(str(tmp_path / 'runs'))}"] for a in ("--set", o)]
    r = subprocess.run(_aa("run", str(REPO / path), *sets, cwd=REPO), cwd=REPO, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    (run,) = ck.iterdir()
    last = pointer(run, "last")
    assert last is not None and last.name.startswith("epoch-") and (last / "train_state.safetensors").is_file()
    spec = load_spec(str(REPO / path), overrides)
    model, ctx = build_model(spec)
    estimate = checkpoint_estimate(model, ctx.build("dataset"))
    assert 0.75 <= estimate / _du(last) <= 1.25, (estimate, _du(last))
