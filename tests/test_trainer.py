"""The core trainer on tasks that are not Q→A: a dataset and a pipeline written here against the
protocols alone (epochs and steps, selection on any metric, a sample pool saved with the training
state, the non-finite guard) and the spec rules that make tasks plugins (defaults from the spec's
own text, names claimed twice, moved keys)."""
from __future__ import annotations

import re
import sys
import warnings

import attrs
import pytest
import torch
import torch.nn.functional as F

from aa_core import validate
from aa_core.host import PluginHost, PluginInfo, scan
from aa_core.plugin import UserError
from aa_core.protocols import Dataset, SampledDataset, TrainablePipeline
from aa_core.train import TrainConfig, fit
from aa_core.train import state as train_state


class Blobs:
    """Two Gaussian blobs in 4-d, 64 / 32 / 32 points; an optional sample pool of noisy copies."""

    def __init__(self, pool: bool = False):
        g = torch.Generator().manual_seed(0)
        y = torch.arange(128) % 2
        x = torch.randn(128, 4, generator=g) + 1.5 * (2 * y[:, None] - 1)
        self.splits = {"train": (x[:64], y[:64]), "validation": (x[64:96], y[64:96]), "test": (x[96:], y[96:])}
        self.hash = "blobs-0"
        self.seen = 0
        if pool:
            self.pool = self.splits["train"][0].clone()
            self.after_step = self._after_step
            self.state_tensors = lambda: {"pool": self.pool.clone(), "seen": torch.tensor(self.seen)}
            self.load_state_tensors = self._load

    def sizes(self):
        return {k: len(v[1]) for k, v in self.splits.items()}

    def batch(self, split, index):
        x, y = self.splits[split]
        src = self.pool if split == "train" and hasattr(self, "pool") else x
        return {"inputs": src[index], "targets": y[index], "index": index}

    def _after_step(self, batch, model):
        self.seen += 1
        self.pool[batch["index"]] = batch["inputs"].detach() * 0.99  # written back, as a Growing-NCA pool is

    def _load(self, tensors):
        self.pool, self.seen = tensors["pool"].clone(), int(tensors["seen"])


class Classifier(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.net = torch.nn.Linear(4, 2)

    def forward(self, x):
        return self.net(x)

    def training_loss(self, batch, settings):
        return F.cross_entropy(self(batch["inputs"]), batch["targets"])

    @torch.no_grad()
    def validation_metrics(self, dataset, settings):
        x, y = dataset.splits["validation"]
        logits = self(x)
        return {"val_accuracy": float((logits.argmax(-1) == y).float().mean()), "val_loss": float(F.cross_entropy(logits, y))}


def cfg(**kw):
    return TrainConfig(**{"epochs": 6, "batch_size": 16, "lr": 0.05, "patience": 100, "threads": 1, **kw})


def test_protocols_describe_the_task():
    assert isinstance(Blobs(), Dataset) and isinstance(Classifier(), TrainablePipeline)
    assert isinstance(Blobs(pool=True), SampledDataset) and not isinstance(Blobs(), SampledDataset)


def test_epochs_select_on_any_metric_and_restore_the_best():
    torch.manual_seed(0)
    model = Classifier()
    res = fit(model, Blobs(), cfg(select_on="val_accuracy"), progress=False)
    assert res["selected"] == "val_accuracy" and len(res["history"]) == 6
    best = max(h["val_accuracy"] for h in res["history"])
    assert res["best"]["val_accuracy"] == best > 0.9
    assert model.validation_metrics(Blobs(), None)["val_accuracy"] == best  # the best epoch's weights are back


def _fit_on_a_terminal(progress: str) -> str:
    """What ``fit(progress=...)`` prints when stderr and stdout are a real pseudo-terminal."""
    import fcntl
    import os
    import struct
    import subprocess
    import termios

    script = ("import importlib.util, sys; s = importlib.util.spec_from_file_location('t', sys.argv[1]); "
              "m = importlib.util.module_from_spec(s); s.loader.exec_module(m); "
              "m.fit(m.Classifier(), m.Blobs(), m.cfg(epochs=2), progress={'bar': True, 'lines': 'lines'}[sys.argv[2]])")
    main_fd, term_fd = os.openpty()
    fcntl.ioctl(term_fd, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # 24×100: a bar has room to draw
    proc = subprocess.Popen([sys.executable, "-c", script, __file__, progress], stdin=subprocess.DEVNULL, stdout=term_fd, stderr=term_fd)
    os.close(term_fd)
    chunks = []
    while True:
        try:
            data = os.read(main_fd, 4096)
        except OSError:  # the terminal closed: the process is gone
            break
        if not data:
            break
        chunks.append(data)
    os.close(main_fd)
    assert proc.wait(timeout=120) == 0, b"".join(chunks).decode()
    return b"".join(chunks).decode().replace("\r\n", "\n")


@pytest.mark.skipif(not hasattr(__import__("os"), "openpty"), reason="needs a pseudo-terminal")
def test_progress_lines_prints_a_line_per_round_even_on_a_terminal():
    lines, bar = _fit_on_a_terminal("lines"), _fit_on_a_terminal("bar")
    assert "train epoch 1/2: loss" in lines and "train epoch 2/2: loss" in lines and "\r" not in lines, lines
    first, last = (next(x for x in lines.splitlines() if f"epoch {e}/2:" in x) for e in (1, 2))
    assert re.search(r"\(\d+ s; ~\d+ s more at most\)$", first) and re.search(r"\(\d+ s\)$", last), lines  # time left, until the end
    assert "\r" in bar and "epoch 1/2: loss" not in bar, bar  # True on a terminal: the bar, not the lines


def test_min_mode_and_default_selection_is_val_loss():
    torch.manual_seed(0)
    res = fit(Classifier(), Blobs(), cfg(), progress=False)
    assert res["selected"] == "val_loss"
    assert res["best"]["val_loss"] == min(h["val_loss"] for h in res["history"])


def test_unknown_select_on_names_the_metrics_the_task_reports():
    with pytest.raises(UserError) as e:
        fit(Classifier(), Blobs(), cfg(select_on="val_f1"), progress=False)
    assert "val_f1" in str(e.value) and "val_accuracy" in str(e.value) and "val_loss" in str(e.value)


def test_steps_and_eval_every_with_a_sample_pool():
    torch.manual_seed(0)
    ds = Blobs(pool=True)
    res = fit(Classifier(), ds, cfg(steps=25, eval_every=10), progress=False)
    assert [h["epoch"] for h in res["history"]] == [1, 2, 3]  # rounds of 10, 10 and 5 steps
    assert ds.seen == 25  # after_step ran after every optimizer step
    assert not torch.equal(ds.pool, Blobs().splits["train"][0])


def test_sample_pool_travels_with_the_training_state(tmp_path):
    ds = Blobs(pool=True)
    ds.pool += 1.0
    ds.seen = 7
    model = Classifier()
    opt = torch.optim.AdamW(model.parameters())
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)
    gen = torch.Generator().manual_seed(3)
    train_state.save(tmp_path, train_state.Progress(epoch=2), opt, sched, gen, ds.state_tensors())
    back = Blobs(pool=True)
    p = train_state.load(tmp_path, opt, sched, torch.Generator(), back.load_state_tensors)
    assert p.epoch == 2 and back.seen == 7 and torch.equal(back.pool, ds.pool)


def test_nonfinite_weights_stop_even_when_batches_are_skipped():
    torch.manual_seed(0)
    model = Classifier()
    with torch.no_grad():
        model.net.bias.fill_(float("nan"))
    with pytest.raises(UserError) as e:
        fit(model, Blobs(), cfg(nonfinite="skip", epochs=2), progress=False)
    assert "non-finite" in str(e.value)


def test_same_seed_same_history():
    torch.manual_seed(0)
    a = fit(Classifier(), Blobs(), cfg(), progress=False)
    torch.manual_seed(0)
    b = fit(Classifier(), Blobs(), cfg(), progress=False)
    assert a["history"] == b["history"]


# ---- spec rules -------------------------------------------------------------------------------

def test_lattice_only_spec_gets_no_tokenizer_or_pipeline_whatever_is_installed():
    spec = validate({"geometry": {"size": [3, 3, 3]}})
    assert "tokenizer" not in spec.components and "pipeline" not in spec.components and "dataset" not in spec.components


def test_data_section_brings_the_qa_components():
    spec = validate({"geometry": {"size": [3, 3, 3]}, "data": {"path": "x.jsonl"}})
    names = {k: reg.component.name for k, (reg, _cfg) in spec.components.items()}
    assert names["tokenizer"] == "teacher" and names["pipeline"] == "direct_embedding" and names["dataset"] == "qa_pairs"


def test_moved_loss_key_still_works_with_a_deprecation_warning():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        spec = validate({"data": {"path": "x.jsonl"}, "train": {"contrastive_weight": 0.5}})
    assert spec.sections["qa_loss"].contrastive_weight == 0.5
    from aa_core._deprecated import REMOVE_IN

    (msg,) = [str(w.message) for w in caught if issubclass(w.category, DeprecationWarning) and "contrastive_weight" in str(w.message)]
    assert msg == (f"<spec>: 'train.contrastive_weight' moved to 'qa_loss.contrastive_weight'; the old key is deprecated "
                   f"and will be removed in aa-core {REMOVE_IN}") and REMOVE_IN == "0.3"


SECTION_PLUGIN = '''
import attrs
from aa_core.plugin import Section, Task, hookimpl

@attrs.define
class Cfg:
    x: int = 1

@hookimpl
def aa_spec_sections():
    return [Section("{section}", Cfg, optional=True)]

@hookimpl
def aa_tasks():
    return [Task("{task}", "aa_core.tasks:describe_task")]
'''


def test_a_name_claimed_twice_fails_only_the_specs_that_use_it(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    for mod in ("clash_a", "clash_b"):
        (tmp_path / f"{mod}.py").write_text(SECTION_PLUGIN.format(section="grow", task="grow_report"))
        sys.modules.pop(mod, None)
    (tmp_path / "clash_core.py").write_text(SECTION_PLUGIN.format(section="train", task="solo"))
    sys.modules.pop("clash_core", None)
    core = [p for p in scan() if p.distribution == "aa-core"]
    host = PluginHost(core + [PluginInfo(m, m, f"dist-{m}", "1.0", ()) for m in ("clash_a", "clash_b", "clash_core")])
    ok = validate({"geometry": {"size": [3, 3, 3]}}, plugins=host)  # uses none of the claimed names
    assert "grow" not in ok.sections
    for raw, names in (({"grow": {"x": 2}}, ("dist-clash_a", "dist-clash_b")),
                       ({"run": {"tasks": ["grow_report"]}}, ("dist-clash_a", "dist-clash_b")),
                       ({"train": {"epochs": 2}}, ("aa-core", "dist-clash_core"))):
        with pytest.raises(UserError) as e:
            validate(raw, plugins=host)
        assert all(n in str(e.value) for n in names), str(e.value)


def test_resume_refuses_a_changed_task_setting():
    from aa_core.train.task import resume_problems

    spec = validate({"geometry": {"size": [3, 3, 3]}, "data": {"path": "x.jsonl"}, "qa_loss": {"temperature": 0.1}})

    class DS:
        hash = "h"
        settings_sections = ("qa_loss",)

    meta = {"model_hash": spec.model_hash(), "dataset_hash": "h", "spec": {**spec.resolved(), "qa_loss": {**spec.resolved()["qa_loss"], "temperature": 0.05}},
            "hyper_parameters": attrs.asdict(spec.sections["train"])}
    problems = resume_problems(meta, spec, DS(), [])
    assert problems == ["qa_loss.temperature: 0.05 in the checkpoint, 0.1 now"]
    assert resume_problems(meta, spec, DS(), ["qa_loss.temperature"]) == []


BLOBS_PLUGIN = '''
import attrs
import torch
import torch.nn.functional as F
from aa_core.plugin import Component, hookimpl


@attrs.define
class Cfg:
    n: int = 64


class Blobs:
    hash = "blobs-metrics"

    def __init__(self, config, ctx):
        g = torch.Generator().manual_seed(0)
        y = torch.arange(3 * config.n) % 2
        x = torch.randn(3 * config.n, 4, generator=g) + 1.5 * (2 * y[:, None] - 1)
        n = config.n
        self.splits = {"train": (x[:n], y[:n]), "validation": (x[n:2 * n], y[n:2 * n]), "test": (x[2 * n:], y[2 * n:])}

    def sizes(self):
        return {k: len(v[1]) for k, v in self.splits.items()}

    def batch(self, split, index):
        x, y = self.splits[split]
        return {"inputs": x[index], "targets": y[index]}


class Classifier(torch.nn.Module):
    def __init__(self, config, ctx):
        super().__init__()
        self.net = torch.nn.Linear(4, 2)                                      # 10 trainable
        self.frozen = torch.nn.Parameter(torch.ones(7), requires_grad=False)  # 7 frozen

    def forward(self, x):
        return self.net(x) * self.frozen[0]

    def training_loss(self, batch, settings):
        return F.cross_entropy(self(batch["inputs"]), batch["targets"])

    @torch.no_grad()
    def validation_metrics(self, dataset, settings):
        x, y = dataset.splits["validation"]
        logits = self(x)
        return {"val_accuracy": float((logits.argmax(-1) == y).float().mean()), "val_loss": float(F.cross_entropy(logits, y))}


@hookimpl
def aa_components():
    return [Component("dataset", "blobs", Cfg, Blobs), Component("pipeline", "blobs_classifier", Cfg, Classifier)]
'''


def test_metrics_json_has_trainable_params_and_absolute_checkpoint_paths(tmp_path, monkeypatch):
    """The core train task on a task written here: metrics.json counts only trainable parameters and
    names the checkpoints by absolute paths although run.checkpoint_dir is relative."""
    import json
    from pathlib import Path

    from aa_core.train.task import run_task

    monkeypatch.syspath_prepend(str(tmp_path))
    (tmp_path / "blobs_metrics_plugin.py").write_text(BLOBS_PLUGIN)
    sys.modules.pop("blobs_metrics_plugin", None)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    core = [p for p in scan() if p.distribution == "aa-core"]
    host = PluginHost(core + [PluginInfo("blobs", "blobs_metrics_plugin", "dist-blobs", "1.0",
                                         (("dataset", "blobs"), ("pipeline", "blobs_classifier")))])
    spec = validate({"dataset": {"name": "blobs"}, "pipeline": {"name": "blobs_classifier"},
                     "train": {"epochs": 2, "batch_size": 16, "lr": 0.05, "threads": 1, "select_on": "val_accuracy"},
                     "run": {"tasks": ["train"], "output_dir": "runs", "checkpoint_dir": "ckpt", "progress": False}}, plugins=host)
    state: dict = {}
    run_task(spec, state)
    (metrics,) = (work / "runs").glob("*/metrics.json")
    m = json.loads(metrics.read_text())
    assert m["params"] == 10  # the Linear's weight and bias; the frozen parameter is not counted
    run_dir = (work / "ckpt" / state["run_id"]).resolve()
    assert Path(m["checkpoint"]).is_absolute() and Path(m["checkpoint"]) == run_dir / "final"
    assert Path(m["checkpoint_dir"]) == run_dir and (run_dir / "final" / "model.safetensors").is_file()
    assert m["selected"] == "val_accuracy" and len(m["history"]) == 2


def test_time_left_reads_in_the_unit_that_fits():
    from aa_core.train.callbacks import duration as _duration

    assert [_duration(s) for s in (40, 720, 8280)] == ["40 s", "12 min", "2.3 h"]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc_trim")
def test_freed_heap_memory_goes_back_to_the_os():
    """What the loop calls after slow steps: a heap left full of holes (tensors of 64 KB, below glibc's
    mmap threshold, 98 % of them freed) shrinks back in resident memory."""
    from aa_core.train.heap import release_freed_memory

    def resident_gib() -> float:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * 4096 / 2**30

    before = resident_gib()
    tensors = [torch.ones(16_000) for _ in range(10_000)]  # 0.6 GiB
    kept = tensors[49::50]
    del tensors
    holes = resident_gib()
    assert release_freed_memory()
    after = resident_gib()
    assert holes - before > 0.4 and after - before < 0.15, (before, holes, after)
    assert len(kept) == 200
