"""The experiment core (the Lightning split): objectives, callbacks, the test step and what the loop
owns — a stateful callback resumed exactly, the non-finite back-off that really lowers the learning
rate, budgets, per-step logs, the stored order, strict metrics JSON, callback components from a spec."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from aa_core.conformance import check_callback, check_objective
from aa_core.protocols import Callback as CallbackProtocol
from aa_core.protocols import Objective as ObjectiveProtocol
from aa_core.run import Callback, Objective, TrainConfig, fit, round_saver

REPO = Path(__file__).resolve().parents[1]


class Blobs:
    """Two Gaussian blobs in 4-d: 64 / 32 / 32 points (data only)."""

    def __init__(self, poison: int = 0):
        g = torch.Generator().manual_seed(0)
        y = torch.arange(128) % 2
        x = torch.randn(128, 4, generator=g) + 1.5 * (2 * y[:, None] - 1)
        x[:poison] = float("nan")
        self.splits = {"train": (x[:64], y[:64]), "validation": (x[64:96], y[64:96]), "test": (x[96:], y[96:])}
        self.hash = "blobs"

    def sizes(self):
        return {k: len(v[1]) for k, v in self.splits.items()}

    def batch(self, split, index):
        x, y = self.splits[split]
        return {"inputs": x[index], "targets": y[index], "index": index}


class Accuracy(Objective):
    selection = ("val_accuracy", "max")
    metrics = ("val_accuracy", "val_loss")

    def training_loss(self, model, batch):
        return F.cross_entropy(model(batch["inputs"]), batch["targets"])

    def split_metrics(self, model, data, split):
        x, y = data.splits[split]
        logits = model(x)
        return {"accuracy": float((logits.argmax(-1) == y).float().mean()), "loss": float(F.cross_entropy(logits, y))}


class Counter(Callback):
    """A stateful callback: counts the steps and the indices it saw (its state must survive a resume)."""

    def __init__(self):
        self.steps, self.seen = 0, 0

    def on_step_end(self, loop, batch, loss):
        self.steps += 1
        self.seen += int(batch["index"].sum())

    def state_dict(self):
        return {"steps": self.steps, "seen": self.seen}

    def load_state_dict(self, state):
        self.steps, self.seen = state.get("steps", 0), state.get("seen", 0)


def cfg(**kw):
    return TrainConfig(**{"epochs": 6, "batch_size": 16, "lr": 0.05, "patience": 100, "threads": 1, **kw})


def model():
    torch.manual_seed(0)
    return torch.nn.Linear(4, 2)


def test_an_objective_and_a_callback_pass_the_kit_and_train_without_the_dataset_owning_the_maths():
    obj = Accuracy()
    assert isinstance(obj, ObjectiveProtocol) and isinstance(Counter(), CallbackProtocol)
    check_objective(obj)
    check_callback(Counter())
    m, counter = model(), Counter()
    res = fit(m, Blobs(), cfg(), objective=obj, callbacks=[counter], progress=False)
    assert res["selected"] == "val_accuracy" and res["mode"] == "max" and res["best"]["val_accuracy"] > 0.9
    assert counter.steps == 6 * 4 and res["cpu_s"] > 0
    assert set(obj.test_metrics(m, Blobs())) == {"test_accuracy", "test_loss"}


def test_a_stateful_callback_resumes_bitwise_exactly(tmp_path):
    whole, counter = model(), Counter()
    fit(whole, Blobs(), cfg(), objective=Accuracy(), callbacks=[counter], progress=False)

    class StopAfter(Callback):
        """Stands for SIGINT at a step: the loop's stop request after ``n`` steps."""

        def __init__(self, n):
            self.n = n

        def on_step_end(self, loop, batch, loss):
            self.n -= 1
            if self.n == 0:
                loop.stop.signum = 2

    part, first = model(), Counter()
    from aa_core.run import load_spec

    save = round_saver(tmp_path / "run", part, load_spec(REPO / "examples" / "digits.toml"), metadata=lambda p: {})  # the spec: metadata only
    with pytest.raises(Exception, match="interrupted at epoch 3, batch 2"):
        fit(part, Blobs(), cfg(), objective=Accuracy(), callbacks=[first, StopAfter(10)], progress=False, save=save)
    resumed, second = model(), Counter()
    last = (tmp_path / "run" / (tmp_path / "run" / "last").read_text().strip())
    from aa_core.run import load_checkpoint, load_weights

    load_weights(resumed, load_checkpoint(last).state_dict)
    fit(resumed, Blobs(), cfg(), objective=Accuracy(), callbacks=[second], progress=False, resume=last)
    assert (second.steps, second.seen) == (counter.steps, counter.seen)  # restored, then continued
    assert all(torch.equal(a, b) for a, b in zip(whole.state_dict().values(), resumed.state_dict().values()))


def test_a_skipped_non_finite_batch_halves_the_learning_rate_for_every_following_step():
    lrs = []

    class LR(Callback):
        def on_step_end(self, loop, batch, loss):
            lrs.append(loop.opt.param_groups[0]["lr"])

    res = fit(model(), Blobs(poison=1), cfg(nonfinite="skip", schedule="constant", epochs=2, shuffle=False),
              objective=Accuracy(), callbacks=[LR()], progress=False)
    # the stored order: each epoch's first batch holds the NaN example and is skipped; the steps after it keep the halved rate
    assert res["skipped_batches"] == 2 and lrs == pytest.approx([0.025] * 4 + [0.0125] * 4)


def test_a_budget_ends_training_at_the_first_step_after_it_and_validates_that_round():
    res = fit(model(), Blobs(), cfg(epochs=100000, patience=100000, budget_s=0.5), objective=Accuracy(), progress=False)
    assert res["stopped_early"] and "budget" in res["stop_reason"] and res["time_s"] < 30
    assert len(res["history"]) < 100000 and res["best"]["val_accuracy"] > 0.5


def test_the_step_log_records_every_nth_step_with_the_objectives_step_metrics():
    class Logged(Accuracy):
        def step_metrics(self, model, batch):
            return {"batch_mean": float(batch["inputs"].mean())}

    res = fit(model(), Blobs(), cfg(epochs=2, log_every=3), objective=Logged(), progress=False)
    assert [r["step"] for r in res["steps"]] == [3, 6]
    assert {"step", "loss", "lr", "t", "batch_mean"} <= set(res["steps"][0])


def test_ties_last_keeps_the_last_of_the_rounds_with_the_best_validation_score():
    """Validation saturates early on the blobs: the first saturated round is kept by default, the last with ties = "last"."""
    first = fit(model(), Blobs(), cfg(epochs=8), objective=Accuracy(), progress=False)
    last = fit(model(), Blobs(), cfg(epochs=8, ties="last"), objective=Accuracy(), progress=False)
    scores = [h["val_accuracy"] for h in first["history"]]
    top = max(scores)
    assert scores.count(top) >= 2  # a real tie, or the test says nothing
    assert first["best_epoch"] == scores.index(top) + 1
    assert last["best_epoch"] == len(scores) - scores[::-1].index(top)
    assert last["best_epoch"] > first["best_epoch"]


def test_shuffle_false_takes_the_stored_order_in_consecutive_batches():
    class Indices(Callback):
        def __init__(self):
            self.batches = []

        def on_step_end(self, loop, batch, loss):
            self.batches.append(batch["index"].tolist())

    seen = Indices()
    fit(model(), Blobs(), cfg(steps=6, eval_every=3, batch_size=24, shuffle=False), objective=Accuracy(), callbacks=[seen], progress=False)
    assert seen.batches[0] == list(range(24)) and seen.batches[1] == list(range(24, 48))
    assert seen.batches[2] == [*range(48, 64), *range(8)]  # wrapping around the 64 training examples


def test_select_on_a_metric_the_objective_does_not_declare_is_refused_before_training(tmp_path, aa):
    spec = REPO / "examples" / "digits.toml"
    done = aa("run", str(spec), "--set", 'run.tasks=["train"]', "--set", 'train.select_on="val_acc"', "--set", "train.epochs=1",
              "--set", f"run.checkpoint_dir={json.dumps(str(tmp_path / 'c'))}", "--set", f"run.output_dir={json.dumps(str(tmp_path / 'r'))}",
              cwd=tmp_path)
    assert done.returncode == 2 and "val_acc" in done.stderr and "val_accuracy" in done.stderr and "Traceback" not in done.stderr


def test_metrics_json_is_strict_json_with_nonfinite_values_flagged():
    from aa_core.train.task import metrics_record

    record = metrics_record({"best": {"val_loss": math.nan, "val_accuracy": 0.5}, "history": [{"train_loss": math.inf}]})
    text = json.dumps(record, allow_nan=False)  # raises on a bare NaN
    assert json.loads(text)["best"]["val_loss"] is None and record["nonfinite"] == ["best.val_loss", "history[0].train_loss"]


CALLBACK_PLUGIN = '''
import attrs
from aa_core.plugin import Component, hookimpl
from aa_core.run import Callback


@attrs.define
class MarkConfig:
    every: int = 1


class Mark(Callback):
    def __init__(self, config, ctx):
        self.every, self.marks = config.every, 0

    def on_round_end(self, loop, metrics, improved):
        if metrics["epoch"] % self.every == 0:
            self.marks += 1
            print(f"mark {self.marks} at round {metrics['epoch']}", flush=True)

    def state_dict(self):
        return {"marks": self.marks}

    def load_state_dict(self, state):
        self.marks = state.get("marks", 0)


@hookimpl
def aa_components():
    return [Component("callback", "mark", MarkConfig, "aa_mark_cb:Mark", "prints a mark every N rounds")]
'''


def test_a_plugin_callback_is_a_component_a_spec_names_in_its_callbacks_table(tmp_path, aa):
    pkg = tmp_path / "pkg"
    (pkg / "aa_mark_cb").mkdir(parents=True)
    (pkg / "aa_mark_cb" / "__init__.py").write_text(CALLBACK_PLUGIN)
    dist = pkg / "aa_mark_cb-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: aa-mark-cb\nVersion: 1.0\nRequires-Dist: aa-core>=0.1,<0.3\n")
    (dist / "entry_points.txt").write_text("[aa.plugins]\nmark = aa_mark_cb\n\n[aa.components]\ncallback.mark = aa_mark_cb\n")
    env = {"PYTHONPATH": str(pkg)}
    folders = ["--set", f"run.checkpoint_dir={json.dumps(str(tmp_path / 'c'))}", "--set", f"run.output_dir={json.dumps(str(tmp_path / 'r'))}"]
    small = ["--set", "geometry.size=[4,4,2]", "--set", "propagator.steps=2", "--set", "train.epochs=4", "--set", "run.progress=false",
             "--set", "dataset.split=[0.4,0.1,0.5]", "--set", "callbacks.mark.every=2"]
    done = aa("run", str(REPO / "examples" / "digits.toml"), *small, *folders, cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    assert "mark 1 at round 2" in done.stdout and "mark 2 at round 4" in done.stdout
    (meta,) = (tmp_path / "c").glob("*/final/metadata.json")
    assert json.loads(meta.read_text())["spec"]["callbacks"] == {"mark": {"every": 2}}  # part of the run's resolved spec
    bad = aa("run", str(REPO / "examples" / "digits.toml"), "--set", "callbacks.makr.every=2", *folders, cwd=tmp_path, env=env)
    assert bad.returncode == 2 and "did you mean 'mark'" in bad.stderr


def test_the_older_task_forms_still_train_with_a_deprecation_warning():
    class OldPipeline(torch.nn.Linear):
        """The maths on the pipeline (TrainablePipeline), as tasks were written before objectives."""

        def training_loss(self, batch, settings):
            return F.cross_entropy(self(batch["inputs"]), batch["targets"])

        def validation_metrics(self, data, settings):
            return {f"val_{k}": v for k, v in Accuracy().split_metrics(self, data, "validation").items()}

    torch.manual_seed(0)
    old = OldPipeline(4, 2)
    with pytest.warns(DeprecationWarning, match="move them to an objective component"):
        res = fit(old, Blobs(), cfg(select_on="val_accuracy"), progress=False)
    new = fit(model(), Blobs(), cfg(), objective=Accuracy(), progress=False)
    assert res["history"] == new["history"]  # the same loop and the same numbers either way
