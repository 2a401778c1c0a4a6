"""The README's example runs as written: a growth task of one's own (a disk) on aa-nca's bases, its spec
validated, the model built from it, trained a few steps with the sample pool, and tested."""
from __future__ import annotations

import re
import tomllib
from pathlib import Path

import torch

from aa_core.run import BuildContext, fit, validate
from aa_nca.config import GrowthObjectiveConfig

README = Path(__file__).resolve().parents[1] / "README.md"


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", README.read_text(encoding="utf-8"), re.S)


def test_the_readme_growth_task_trains_and_tests():
    (code,) = _blocks("python")
    ns: dict = {"__name__": "my_growth_disk"}
    exec(compile(code, str(README), "exec"), ns)
    (text,) = [b for b in _blocks("toml") if 'name = "disk"' in b]
    raw = tomllib.loads(text)
    dataset = {k: v for k, v in raw.pop("dataset").items() if k != "name"}  # "disk" is registered by the reader's plugin, not here
    assert raw.pop("run") == {"tasks": ["train", "test"]}
    raw["train"].update(steps=8, eval_every=4, threads=1)
    spec = validate(raw, source=str(README))
    ctx = BuildContext(spec)
    model = ctx.build("pipeline")
    assert type(model.cell).__name__ == "GrowingNCACell"

    torch.manual_seed(0)
    data = ns["Disk"](ns["DiskConfig"](**dataset))
    data.setup(model, ctx)  # the spec fits the data: lattice size, cell width, alive channel
    assert data.sizes() == {"train": 32, "validation": 1, "test": 1}
    before = data.pool.states.clone()
    objective = ns["DiskMSE"](GrowthObjectiveConfig(rollouts=2, persist_steps=3, regrow_steps=4))
    untrained = objective.validation_metrics(model, data)["val_loss"]  # the zero-initialised cell leaves the seed alone
    result = fit(model, data, spec.sections["train"], objective=objective, progress=False)

    assert len(result["history"]) == 2 and result["best"]["val_loss"] < untrained  # 0.31 → 0.13 in 8 steps
    assert not torch.equal(before, data.pool.states)  # the grown states went back into the pool
    test = objective.test_metrics(model, data)
    assert set(test) == {"test_mse", "test_grown_mse", "test_persisted_mse", "test_damaged_mse", "test_regrown_mse"}
    assert all(0 <= v < 1 for v in test.values())
    assert "grown pattern: mse" in data.describe_prediction(model(data.seed.unsqueeze(0)))
