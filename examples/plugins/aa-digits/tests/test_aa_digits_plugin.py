"""The plugin in process: the dataset's splits and hash, the pipeline through the conformance kit,
a few real training steps, and the example's own limits (100 lines, allowed imports)."""
from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest
import torch

from aa_core.conformance import build_registered, check_pipeline, check_protocol
from aa_core.plugin import UserError
from aa_core.protocols import Dataset, TrainablePipeline
from aa_core.spec import load_spec

PACKAGE = Path(__file__).resolve().parents[1] / "aa_digits"
ALLOWED = {"aa_core.plugin", "aa_core.protocols", "torch", "sklearn", "attrs", "aa_digits"}  # attrs: the config classes


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


def test_the_pipeline_passes_the_conformance_kit_on_the_kits_lattice_and_on_the_examples():
    for geometry in ({"name": "lattice", "size": [4, 4, 3]}, {"name": "lattice", "size": [8, 8, 2], "input_face": "y0"}):
        model, _ = build_registered("pipeline", "face_consensus", base={"geometry": geometry})
        assert isinstance(model, TrainablePipeline)
        check_pipeline(model)
        check_protocol(model, TrainablePipeline, "pipeline")


def test_the_example_learns_in_a_few_hundred_steps():
    from aa_core.assemble import build_model

    spec = load_spec(str(Path(__file__).resolve().parents[4] / "examples" / "digits.toml"),
                     ["geometry.size=[4,4,2]", "propagator.steps=2", "dataset.split=[0.3,0.2,0.5]", "cell.hidden=16"])
    torch.manual_seed(0)
    torch.set_num_threads(1)
    model, ctx = build_model(spec)
    ds = ctx.build("dataset")
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    before = model.scores(ds, "validation")
    g = torch.Generator().manual_seed(0)
    for _ in range(150):
        loss = model.training_loss(ds.batch("train", torch.randint(0, ds.sizes()["train"], (32,), generator=g)), None)
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = model.validation_metrics(ds, None)
    assert set(after) == {"val_loss", "val_accuracy"}
    assert after["val_loss"] < before["loss"] - 0.3 and after["val_accuracy"] > 0.4, (before, after)


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
            assert ok, f"{path.name} imports {name}: an example plugin uses only aa_core.plugin, aa_core.protocols, torch, sklearn"


def test_the_package_is_at_most_100_lines_of_python():
    lines = [ln for p in PACKAGE.glob("*.py") for ln in p.read_text().splitlines()
             if ln.strip() and not ln.strip().startswith("#")]
    assert len(lines) <= 100, len(lines)
