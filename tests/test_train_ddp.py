"""`aa run --nproc 2` on a task that is not Q→A (tests/task_plugin): two real CPU processes (torchrun,
gloo) train the weights and metrics of one at the same global batch, rank 0 alone writes the run,
`--resume` works under torchrun; the lattice split over the ranks (``nca_parallel``) too.

A global batch of 5 splits unevenly (3 + 2), and the last batch of an epoch (256 = 51 · 5 + 1) leaves
rank 1 without a sample, so the loss scaling and the empty share are exercised."""
from __future__ import annotations

import json

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
