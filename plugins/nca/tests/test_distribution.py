"""aa-nca is a distribution of its own (issue 34: ``pip install aa-nca`` alone pulls no mnist1d, nbtlib,
scikit-learn, Pillow or matplotlib): its pyproject and its built wheel require aa-core and nothing else, the
wheel carries the whole package and declares the two components, and importing and running it never imports
the CA task suite or a task's data or plotting library. (``tests/test_publish.py`` installs the published
wheel alone into a fresh venv, ``-m slow``.)"""
from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
import zipfile
from email.parser import Parser
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

PROJECT = Path(__file__).resolve().parents[1]
# what the task suite needs and aa-nca must never pull (distribution names, canonical) or import (modules)
SUITE_DISTS = {"aa-ca-suite", "mnist1d", "nbtlib", "scikit-learn", "pillow", "matplotlib"}
SUITE_MODULES = ("aa_ca", "mnist1d", "nbtlib", "sklearn", "PIL", "matplotlib")


def _names(requirements: list[str]) -> set[str]:
    return {canonicalize_name(Requirement(r).name) for r in requirements}


def test_the_pyproject_depends_on_aa_core_only():
    project = tomllib.loads((PROJECT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert _names(project["dependencies"]) == {"aa-core"}
    assert not project.get("optional-dependencies")
    assert project["entry-points"]["aa.components"] == {"cell.growing_nca": "aa_nca._plugin", "pipeline.growth": "aa_nca._plugin"}


def test_the_built_wheel_requires_aa_core_only(tmp_path):
    src = tmp_path / "src"  # built from a copy: the build leaves nothing in the repository
    shutil.copytree(PROJECT, src, ignore=shutil.ignore_patterns("build", "dist", "*.egg-info", "__pycache__", "tests"))
    r = subprocess.run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(tmp_path / "dist"), str(src)],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    (wheel,) = (tmp_path / "dist").glob("aa_nca-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        info = next(n.split("/")[0] for n in names if n.endswith(".dist-info/METADATA"))
        meta = Parser().parsestr(zf.read(f"{info}/METADATA").decode())
        entry_points = zf.read(f"{info}/entry_points.txt").decode()
    requires = meta.get_all("Requires-Dist") or []
    assert _names(requires) == {"aa-core"}, requires
    assert not _names(requires) & SUITE_DISTS and not meta.get_all("Provides-Extra")
    assert meta["Name"] == "aa-nca"
    assert {f"aa_nca/{m}.py" for m in ("__init__", "_plugin", "config", "cell", "cell_kernel", "growth", "pool", "objective")} <= names
    assert "aa_nca/depthwise_perception.cpp" in names  # the kernel's source ships as package data
    assert not any(n.startswith("aa_ca/") for n in names)
    assert "cell.growing_nca = aa_nca._plugin" in entry_points and "pipeline.growth = aa_nca._plugin" in entry_points


def test_it_works_where_the_suite_and_its_libraries_are_not_installed():
    """Every module imported and the growth pipeline built with the growing_nca cell and run, in a process where
    importing aa_ca or any of the suite's libraries fails (as when they are not installed)."""
    code = f"""
import sys
for m in {SUITE_MODULES!r}:
    sys.modules[m] = None  # importing it raises ImportError, as if it were not installed
import torch
import aa_nca._plugin, aa_nca.cell, aa_nca.cell_kernel, aa_nca.config, aa_nca.growth, aa_nca.objective, aa_nca.pool
from aa_core.run import BuildContext, validate
raw = {{"geometry": {{"name": "lattice", "size": [3, 3, 3]}}, "cell": {{"name": "growing_nca", "channels": 4, "hidden": [8]}},
       "propagator": {{"name": "nca", "fire_rate": 0.5, "alive_threshold": 0.1, "alive_channel": 0}},
       "pipeline": {{"name": "growth", "steps": [2, 3]}}}}
model = BuildContext(validate(raw, source="<test>")).build("pipeline")
seed = torch.zeros(1, 27, 4)
seed[0, 13] = 1.0
print("grown", tuple(model.grow(seed, 2).shape), sorted(m for m in sys.modules if m.split(".")[0] in {SUITE_MODULES!r} and sys.modules[m]))
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.strip().splitlines()[-1] == "grown (1, 27, 4) []"
