"""The plugin in process: the dataset's splits and hash, the pipeline and the objective through the
conformance kit, a few real training steps, and the example's own limits (160 lines, allowed imports)."""
from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest
import torch

from aa_core import load_spec
from aa_core.conformance import build_registered, check_objective, check_pipeline
from aa_core.plugin import UserError
from aa_core.protocols import Dataset, LatticePipeline, Objective, TrainablePipeline
from aa_core.run import build_model

PACKAGE = Path(__file__).resolve().parents[1] / "aa_digits"
ALLOWED = {"aa_core.plugin", "aa_core.protocols", "aa_core.run", "torch", "sklearn", "attrs", "aa_digits"}  # attrs: the config classes


def dataset(**config):
    from aa_digits._plugin import DigitsConfig
    from aa_digits.data import Digits

    return Digits(DigitsConfig(**config))


def test_splits_are_disjoint_complete_and_fixed_by_the_seed():
    ds = dataset()
    assert isinstance(ds, Dataset) and ds.sizes() == {"train": 1258, "validation": 270, "test": 269}
    from sklearn.datasets import load_digits

    every = sorted(tuple(r) for x, _ in ds.splits.values() for r in (x * 16).round().int().tolist())
    assert every == sorted(tuple(r) for r in load_digits().data.astype(int).tolist())  # each image in exactly one split
    b = ds.batch("validation", torch.tensor([0, 5, 7]))
    assert b["inputs"].shape == (3, 64) and b["targets"].dtype == torch.long and 0 <= float(b["inputs"].min()) <= float(b["inputs"].max()) <= 1
    assert dataset().hash == ds.hash and dataset(seed=1).hash != ds.hash and dataset(split=[0.5, 0.25, 0.25]).hash != ds.hash
    assert torch.equal(dataset().splits["test"][1], ds.splits["test"][1])


def test_a_bad_split_is_a_user_error_naming_the_key():
    spec = Path(__file__).resolve().parents[4] / "examples" / "digits.toml"
    with pytest.raises(UserError, match="split"):
        load_spec(str(spec), ["dataset.split=[0.5,0.5,0.5]"])


def test_the_pipeline_and_the_objective_pass_the_conformance_kit():
    for geometry in ({"name": "lattice", "size": [4, 4, 3]}, {"name": "lattice", "size": [8, 8, 2], "input_face": "y0"}):
        model, _ = build_registered("pipeline", "face_consensus", base={"geometry": geometry})
        assert not isinstance(model, TrainablePipeline)  # the maths is the objective's: the pipeline is a module
        assert isinstance(model, LatticePipeline)  # write → propagate → read: aa inspect pictures it
        x = model.example_batch(3, torch.Generator().manual_seed(0))["inputs"]
        assert torch.equal(model(x), model.readout(model.propagator(model.initial_state(x)), x))
        check_pipeline(model)
    objective, _ = build_registered("objective", "digits_classification")
    assert isinstance(objective, Objective) and objective.selection == ("val_accuracy", "max")
    check_objective(objective)


def test_the_example_learns_in_a_few_hundred_steps():
    spec = load_spec(str(Path(__file__).resolve().parents[4] / "examples" / "digits.toml"),
                     ["geometry.size=[4,4,2]", "propagator.steps=2", "dataset.split=[0.3,0.2,0.5]", "cell.hidden=16"])
    torch.manual_seed(0)
    torch.set_num_threads(1)
    model, ctx = build_model(spec)
    ds, objective = ctx.build("dataset"), ctx.build("objective")
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    before = objective.validation_metrics(model, ds)
    g = torch.Generator().manual_seed(0)
    for _ in range(150):
        loss = objective.training_loss(model, ds.batch("train", torch.randint(0, ds.sizes()["train"], (32,), generator=g)))
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = objective.validation_metrics(model, ds)
    assert set(after) == {"val_loss", "val_accuracy"} and set(objective.test_metrics(model, ds)) == {"test_loss", "test_accuracy"}
    assert after["val_loss"] < before["val_loss"] - 0.3 and after["val_accuracy"] > 0.4, (before, after)


def _imports(path: Path) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            out.add("aa_digits" if node.level else node.module or "")
    return out


def test_the_package_imports_only_the_plugin_api_torch_and_scikit_learn():
    for path in PACKAGE.glob("*.py"):
        for name in _imports(path):
            root = name.split(".")[0]
            ok = root in sys.stdlib_module_names or any(name == a or name.startswith(a + ".") for a in ALLOWED)
            assert ok, f"{path.name} imports {name}: an example plugin uses only aa_core.plugin, aa_core.protocols, aa_core.run, torch, sklearn"


def test_the_package_is_at_most_160_lines_of_python():
    lines = [ln for p in PACKAGE.glob("*.py") for ln in p.read_text().splitlines()
             if ln.strip() and not ln.strip().startswith("#")]
    assert len(lines) <= 160, len(lines)
