"""Each task's data library is an extra of aa-ca-suite (issue 34), and a task whose extra is not installed
fails clearly: importing its dataset module raises a UserError naming ``pip install 'aa-ca-suite[EXTRA]'``,
never an ImportError traceback, while ``aa plugins``, the other tasks and aa-nca's growth components keep
working. A missing library is simulated by ``sys.modules[name] = None`` (its import then fails, and
``importlib.util.find_spec`` finds nothing), in this process or in the child's ``sitecustomize``."""
from __future__ import annotations

import importlib
import os
import sys
import tomllib
from pathlib import Path

import pytest
import torch
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from aa_ca._extras import DIST, EXTRAS
from aa_core.plugin import UserError
from aa_core.run import BuildContext, validate

PROJECT = Path(__file__).resolve().parents[1]
REPO = PROJECT.parents[1]
PYPROJECT = tomllib.loads((PROJECT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
# dataset module → (its extra, the library it needs)
TASKS = {"aa_ca.mnist1d_task": ("mnist1d", "mnist1d"), "aa_ca.digits_task": ("digits", "sklearn"),
         "aa_ca.voxel": ("voxel", "nbtlib"), "aa_ca.emoji": ("emoji", "PIL")}
GROWTH = {"geometry": {"name": "lattice", "size": [3, 3, 3]}, "cell": {"name": "growing_nca", "channels": 4, "hidden": [8]},
          "propagator": {"name": "nca", "fire_rate": 0.5, "alive_threshold": 0.1, "alive_channel": 0},
          "pipeline": {"name": "growth", "steps": [2, 3]}}


def _names(reqs: list[str]) -> set[str]:
    return {canonicalize_name(Requirement(r).name) for r in reqs}


def test_each_task_declares_its_extra_and_the_base_needs_none():
    extras = {k: _names(v) for k, v in PYPROJECT["optional-dependencies"].items()}
    assert extras["mnist1d"] == {"mnist1d"} and extras["digits"] == {"scikit-learn"} and extras["voxel"] == {"nbtlib"}
    assert extras["emoji"] == {"pillow"} and extras["arc"] == set() and extras["report"] == {"matplotlib", "pillow"}
    assert extras["all"] == set().union(*(extras[e] for e in ("mnist1d", "digits", "arc", "voxel", "emoji", "report")))
    for extra, (_module, package) in EXTRAS.items():  # what the UserError names is what the pyproject declares
        assert canonicalize_name(package) in extras[extra], extra
    assert _names(PYPROJECT["dependencies"]) == {"aa-core", "aa-nca"}  # no data or plotting library without an extra


def test_requirements_install_the_suite_with_every_extra_after_aa_nca():
    lines = [ln.strip() for ln in (REPO / "requirements.txt").read_text(encoding="utf-8").splitlines()]
    assert "-e plugins/ca_suite[all]" in lines and lines.index("-e plugins/nca") < lines.index("-e plugins/ca_suite[all]")


@pytest.mark.parametrize("module", sorted(TASKS))
def test_a_task_without_its_extra_names_it(module, monkeypatch):
    extra, library = TASKS[module]
    monkeypatch.setitem(sys.modules, library, None)
    monkeypatch.delitem(sys.modules, module, raising=False)
    with pytest.raises(UserError) as e:
        importlib.import_module(module)
    assert f"pip install '{DIST}[{extra}]'" in str(e.value) and f"'{DIST}[all]'" in str(e.value)


def test_without_nbtlib_the_other_tasks_and_the_growth_components_still_build(monkeypatch):
    monkeypatch.setitem(sys.modules, "nbtlib", None)
    monkeypatch.delitem(sys.modules, "aa_ca.voxel", raising=False)
    voxel = validate({**GROWTH, "dataset": {"name": "voxel_growth"}}, source="voxel.toml")  # the spec itself is valid
    with pytest.raises(UserError, match=r"pip install 'aa-ca-suite\[voxel\]'"):
        BuildContext(voxel).build("dataset")
    model = BuildContext(validate(GROWTH, source="growth.toml")).build("pipeline")  # aa-nca's growth + growing_nca
    assert model.grow(model.example_batch(1, torch.Generator())["inputs"], 1).shape == (1, 27, 4)
    arc = BuildContext(validate({"geometry": {"name": "lattice", "size": [4, 4, 1]}, "objective": {"name": "arc1d_rows"}},
                                source="arc.toml"))
    assert arc.build("objective") is not None  # another task's component


def test_aa_run_and_aa_plugins_without_the_extra(aa, tmp_path):
    """Through the CLI: the voxel spec exits 2 naming the extra (no traceback, no run folder); `aa plugins` lists
    every component of both distributions."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text("import sys\nsys.modules['nbtlib'] = None\n")
    env = {"PYTHONPATH": os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH", "")]))}
    spec = REPO / "examples" / "ca" / "voxel_growth.toml"
    r = aa("run", str(spec), cwd=tmp_path, env=env)
    assert r.returncode == 2, r.stdout[-2000:] + r.stderr[-2000:]
    assert "pip install 'aa-ca-suite[voxel]'" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "runs").exists() and not (tmp_path / "checkpoints").exists()
    r = aa("plugins", cwd=tmp_path, env=env)
    assert r.returncode == 0, r.stderr
    rows = {tuple(line.split()[:3]) for line in r.stdout.splitlines()}
    assert {("cell", "growing_nca", "aa-nca"), ("pipeline", "growth", "aa-nca"), ("dataset", "voxel_growth", "aa-ca-suite"),
            ("dataset", "mnist1d", "aa-ca-suite")} <= rows
