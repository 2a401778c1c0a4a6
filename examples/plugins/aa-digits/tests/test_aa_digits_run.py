"""`aa run examples/digits.toml` for real (subprocesses): metrics.json, SIGINT then --resume to the
same final weights, and two torchrun processes training the weights of one."""
from __future__ import annotations

import json
import math
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from safetensors.torch import load_file

REPO = Path(__file__).resolve().parents[4]
SPEC = REPO / "examples" / "digits.toml"
# A small version of the example: a 4×4×2 lattice, 40 % of the images for training, three epochs.
SMALL = ["geometry.size=[4,4,2]", "propagator.steps=2", "cell.channels=6", "cell.hidden=16", "dataset.split=[0.4,0.1,0.5]",
         "train.epochs=3", "train.lr=0.03", "train.patience=10", "run.progress=false"]


def sets(*overrides: str) -> list[str]:
    return [a for o in overrides for a in ("--set", o)]


def folders(tmp: Path) -> list[str]:
    return [f"run.output_dir={json.dumps(str(tmp / 'runs'))}", f"run.checkpoint_dir={json.dumps(str(tmp / 'ckpt'))}"]


def env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


def aa_popen(*args: str, cwd: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "aa_core.cli", *args], cwd=cwd, env=env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def aa(*args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "aa_core.cli", *args], cwd=cwd, env=env(), capture_output=True,
                          text=True, timeout=timeout)


def only_dir(parent: Path) -> Path:
    (d,) = [p for p in parent.iterdir() if p.is_dir()]
    return d


def final_weights(run_dir: Path) -> dict:
    return load_file(str(run_dir / "final" / "model.safetensors"))


def test_aa_run_trains_and_writes_metrics_json(tmp_path):
    r = aa("run", str(SPEC), *sets(*SMALL, *folders(tmp_path)), cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    run_dir = only_dir(tmp_path / "ckpt")
    m = json.loads((tmp_path / "runs" / run_dir.name / "metrics.json").read_text())
    assert m["selected"] == "val_accuracy" and m["mode"] == "max" and len(m["history"]) == 3
    best = max(m["history"], key=lambda h: h["val_accuracy"])
    assert m["best"] == best and m["best_epoch"] == best["epoch"]
    assert 0 <= m["best"]["val_accuracy"] <= 1 and m["history"][-1]["train_loss"] < m["history"][0]["train_loss"]
    assert m["best"]["val_loss"] < math.log(10)  # below chance: it learned (test_aa_digits_plugin checks how well)
    assert "best epoch" in r.stdout and "val_accuracy" in r.stdout
    assert "test" not in m  # the spec's tasks are ["train"]: the test split was not read


def test_aa_inspect_pictures_a_digits_checkpoint_and_names_what_is_missing(tmp_path):
    """face_consensus is a write → propagate → read pipeline: `aa inspect` pictures it. A deleted final/extra.json,
    then a deleted final/, are named (not "no decoder" or "not an AA checkpoint")."""
    pytest.importorskip("aa_inspect")
    r = aa("run", str(SPEC), *sets(*SMALL, "train.epochs=1", *folders(tmp_path)), cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    run_dir = only_dir(tmp_path / "ckpt")
    inspect = ["inspect", "--checkpoint", str(run_dir), "--index", "0", "--out", str(tmp_path / "digit.png")]
    pic = aa(*inspect, cwd=tmp_path)
    assert pic.returncode == 0, pic.stderr
    assert (tmp_path / "digit.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and f"picture: {tmp_path / 'digit.png'}" in pic.stdout
    # the dataset pictures its examples (PicturedDataset): input, target and prediction side by side; the prediction per step
    for name, label, head in (("digit_examples.png", "examples", b"\x89PNG\r\n\x1a\n"), ("digit_steps.png", "steps", b"\x89PNG\r\n\x1a\n"),
                              ("digit_steps.gif", "steps animation", b"GIF89a")):
        assert f"{label}: {tmp_path / name}" in pic.stdout, pic.stdout
        assert (tmp_path / name).read_bytes()[: len(head)] == head and (tmp_path / name).stat().st_size > 5_000, name
    from PIL import Image

    with Image.open(tmp_path / "digit_examples.png") as im:
        assert im.size[0] > 800 and im.size[1] > 4 * 250  # four examples, one row each
    with Image.open(tmp_path / "digit_steps.gif") as im:
        assert im.n_frames == 3  # steps 0, 1, 2 of propagator.steps = 2
    (run_dir / "final" / "extra.json").unlink()
    gone = aa(*inspect, cwd=tmp_path)
    assert gone.returncode == 2 and f"checkpoint {run_dir / 'final'}: extra.json is missing" in gone.stderr, gone.stderr
    shutil.rmtree(run_dir / "final")
    gone = aa(*inspect, cwd=tmp_path)
    assert gone.returncode == 2 and f"run folder {run_dir}: its 'best' pointer names final/, which is missing" in gone.stderr, gone.stderr
    assert str(run_dir / "epoch-0001") in gone.stderr and "Traceback" not in gone.stderr


def test_the_test_task_scores_the_selected_checkpoint_once(tmp_path):
    r = aa("run", str(SPEC), *sets(*SMALL, *folders(tmp_path), 'run.tasks=["train","test"]'), cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    run_dir = only_dir(tmp_path / "ckpt")
    m = json.loads((tmp_path / "runs" / run_dir.name / "metrics.json").read_text())
    assert set(m["test"]) == {"test_accuracy", "test_loss"} and 0 <= m["test"]["test_accuracy"] <= 1
    assert m["test_info"]["examples"] == 1797 - round(0.4 * 1797) - round(0.1 * 1797) and m["test_info"]["valid"] is True
    assert "test (" in r.stdout and "read once" in r.stdout
    again = aa("run", str(SPEC), *sets(*SMALL, *folders(tmp_path), 'run.tasks=["test"]'), "--resume", str(run_dir), cwd=tmp_path)
    assert again.returncode == 2 and "read once per run" in again.stderr and "Traceback" not in again.stderr  # never a second look


def test_sigint_exits_130_and_resume_gives_the_uninterrupted_weights(tmp_path):
    overrides = [*SMALL, "train.epochs=4"]
    ref = tmp_path / "ref"
    r = aa("run", str(SPEC), *sets(*overrides, *folders(ref)), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    stopped = tmp_path / "stopped"
    p = aa_popen("run", str(SPEC), *sets(*overrides, *folders(stopped)), cwd=tmp_path)
    t0 = time.monotonic()
    while not ((stopped / "ckpt").is_dir() and any((stopped / "ckpt").iterdir()) and (only_dir(stopped / "ckpt") / "last").exists()):
        assert p.poll() is None, p.communicate()
        assert time.monotonic() - t0 < 240, "no checkpoint appeared"
        time.sleep(0.02)
    p.send_signal(signal.SIGINT)  # mid-epoch 2 or later: saved after the current step
    out, err = p.communicate(timeout=120)
    assert p.returncode == 130, out + err
    assert "Resume with: aa run" in err and "Traceback" not in err
    run_dir = only_dir(stopped / "ckpt")
    assert not (run_dir / "final").exists()
    hint = err.split("Resume with: ", 1)[1].strip().splitlines()[0]  # the printed command, run verbatim
    assert hint.startswith("aa run ") and "train.epochs=4" in hint and f"--resume {run_dir}" in hint
    r = aa(*shlex.split(hint)[1:], cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "resuming from" in r.stdout
    a, b = final_weights(run_dir), final_weights(only_dir(ref / "ckpt"))
    assert a.keys() == b.keys() and a
    for k in a:
        assert a[k].dtype == b[k].dtype and a[k].shape == b[k].shape and bool((a[k] == b[k]).all()), k  # bitwise


def test_two_processes_train_the_weights_of_one(tmp_path):
    overrides = [*SMALL, "train.epochs=2", "train.batch_size=31"]  # 31: the ranks take 16 + 15 of each batch
    one, two = tmp_path / "one", tmp_path / "two"
    r1 = aa("run", str(SPEC), *sets(*overrides, *folders(one)), cwd=tmp_path)
    assert r1.returncode == 0, r1.stderr
    r2 = aa("run", str(SPEC), "--nproc", "2", *sets(*overrides, *folders(two)), cwd=tmp_path, timeout=400)
    assert r2.returncode == 0, r2.stdout + r2.stderr
    assert r2.stdout.count("best epoch") == 1  # rank 0 alone reports and writes
    a, b = final_weights(only_dir(one / "ckpt")), final_weights(only_dir(two / "ckpt"))
    diff = max(float((a[k] - b[k]).abs().max()) for k in a)
    assert diff <= 1e-5, diff
    m1, m2 = (json.loads(next((d / "runs").glob("*/metrics.json")).read_text()) for d in (one, two))
    assert m1["best_epoch"] == m2["best_epoch"] and abs(m1["best"]["val_loss"] - m2["best"]["val_loss"]) < 1e-5


@pytest.mark.slow  # seven trial processes
def test_aa_sweep_optimises_val_accuracy_from_metrics_json(tmp_path):
    import optuna

    out = tmp_path / "sweep"
    small = [s for s in SMALL if not s.startswith("train.epochs")] + ["train.epochs=2"]
    r = aa("sweep", str(SPEC), "--objective", "val_accuracy", "--param", "train.lr=0.003|0.01", "--seeds", "2",
           *sets(*small), "--out", str(out), "--no-plot", cwd=tmp_path, timeout=900)
    assert r.returncode == 0, r.stdout + r.stderr
    (name,) = optuna.get_all_study_names(f"sqlite:///{out / 'study.db'}")
    study = optuna.load_study(study_name=name, storage=f"sqlite:///{out / 'study.db'}")
    assert study.direction == optuna.study.StudyDirection.MAXIMIZE
    trials = study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))
    assert len(trials) == 4
    for t in trials:  # each value is what the trial's own metrics.json selected
        (m,) = Path(t.user_attrs["folder"]).glob("runs/*/metrics.json")
        assert t.value == json.loads(m.read_text())["best"]["val_accuracy"] and "report" not in t.user_attrs
    table = (out / "results.md").read_text()
    assert "val_accuracy" in table and "train.lr=0.01" in table and "train.lr=0.003" in table
    rows = json.loads((out / "results.json").read_text())["rows"]
    assert [row["metrics"][0] for row in rows] == ["val_accuracy", "val_accuracy"] and all(row["params"] for row in rows)
    # a metric the runs do not report fails its trials with the reason; --split is refused without an evaluate task
    bad = aa("sweep", str(SPEC), "--objective", "val_f1", "--seeds", "1", *sets(*small), "--out", str(tmp_path / "bad"),
             "--no-plot", cwd=tmp_path, timeout=600)
    assert bad.returncode == 1 and "reports no finite 'val_f1'" in bad.stdout and "val_accuracy" in bad.stdout
    split = aa("sweep", str(SPEC), "--split", "test", "--seeds", "1", cwd=tmp_path)
    assert split.returncode == 2 and "--split" in split.stderr and "Traceback" not in split.stderr
