"""Runs started together into one checkpoint folder never collide (run folders are created
exclusively), on a task that is not Q→A (tests/task_plugin; real parallel `aa run` processes)."""
from __future__ import annotations

import json
from pathlib import Path


def test_parallel_runs_get_their_own_folders_and_metrics(toy):
    spec = toy.spec()
    procs = [toy.popen("run", str(spec), "--set", f"train.lr={lr}") for lr in (0.001, 0.01, 0.01)]  # the last two: same spec, same run id
    outs = [p.communicate(timeout=600) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, out + err
    run_dirs = sorted((toy.work / "spec-ckpt").iterdir())
    assert len(run_dirs) == 3, run_dirs
    lrs = sorted(json.loads((d / "final" / "metadata.json").read_text())["hyper_parameters"]["lr"] for d in run_dirs)
    assert lrs == [0.001, 0.01, 0.01]
    assert len({d.name.split("-")[2] for d in run_dirs}) == 2  # two spec hashes: the twins took name and name-1
    metrics = sorted((toy.work / "spec-runs").glob("*/metrics.json"))
    assert len(metrics) == 3  # one per run, none overwritten
    for out, _err in outs:
        ckpt = Path(next(line.split(": ", 1)[1] for line in out.splitlines() if line.startswith("checkpoint: ")))
        m = json.loads((toy.work / "spec-runs" / ckpt.name / "metrics.json").read_text())
        assert Path(m["checkpoint_dir"]) == ckpt.resolve()  # metrics and checkpoint of the same run
