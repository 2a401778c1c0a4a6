"""A Lenia-like growth cell from outside the repo (tests/growth_plugin): small, conforms, and the
``nca`` propagator applies its ``post_update`` (the state stays in [0, 1]) on both paths."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

SOURCE = Path(__file__).parent / "growth_plugin"
CELL_FILES = [SOURCE / "aa_growth_cell" / "cell.py", SOURCE / "aa_growth_cell" / "config.py"]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    target = tmp_path_factory.mktemp("site")
    build = tmp_path_factory.mktemp("src")
    subprocess.run(["cp", "-r", str(SOURCE) + "/.", str(build)], check=True)  # the build leaves nothing in the repo
    r = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--target", str(target), str(build)],
        capture_output=True, text=True, timeout=300,
    )
    assert r.returncode == 0, r.stderr
    return target


def run_python(code: str, site: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)


def test_cell_is_small():
    """forward, lattice_forward, post_update, config and factory in at most 60 lines."""
    lines = sum(1 for f in CELL_FILES for line in f.read_text().splitlines() if line.strip())
    assert lines <= 60, f"growth cell + config: {lines} non-blank lines"


CONFORMANCE = """
from aa_core.conformance import build_registered, check_cell, check_nca_paths
from aa_core.protocols import LatticeCell, PostUpdateCell
for config in ({}, {"channels": 3, "dt": 0.5}):
    cell, ctx = build_registered("cell", "growth", config)
    assert isinstance(cell, LatticeCell) and isinstance(cell, PostUpdateCell)
    check_cell(cell, ctx.geometry)
for nbh, boundary in ((6, "zero"), (18, "periodic"), (26, "zero"), (26, "periodic")):
    check_nca_paths("growth", {}, nbh, boundary)
print("CONFORMS")
"""


def test_passes_the_conformance_kit(site):
    r = run_python(CONFORMANCE, site)
    assert "CONFORMS" in r.stdout, r.stderr[-3000:]


POST_UPDATE = """
import torch
from aa_core.plugin import BuildContext
from aa_core.spec import validate
for path in ("reference", "fast"):
    raw = {"geometry": {"name": "lattice", "size": [5, 4, 3], "neighbourhood": 26},
           "cell": {"name": "growth", "channels": 3, "dt": 0.5},
           "propagator": {"name": "nca", "steps": 3, "path": path}}
    ctx = BuildContext(validate(raw, source="<growth>"))
    prop, cell, g = ctx.propagator.eval(), ctx.cell, ctx.geometry
    s = 3 * torch.randn(2, g.num_cells, 3, generator=torch.Generator().manual_seed(0))  # far outside [0, 1]
    with torch.no_grad():
        raw_step = s + cell(g.gather(s))
        out = prop(s)
    assert raw_step.min() < -0.5 and raw_step.max() > 1.5  # the update alone does not reach [0, 1]
    assert out.min() >= 0 and out.max() <= 1, (path, out.min().item(), out.max().item())
    assert torch.equal(cell.post_update(s), s.clamp(0, 1))
print("CLAMPED")
"""


def test_nca_applies_post_update(site):
    r = run_python(POST_UPDATE, site)
    assert "CLAMPED" in r.stdout, r.stderr[-3000:]
