"""A plugin package from outside this repo, installed with pip, is listed and usable."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SOURCE = Path(__file__).parent / "external_plugin"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    target = tmp_path_factory.mktemp("site")
    build = tmp_path_factory.mktemp("src")
    # copy so the build leaves nothing in the repo
    subprocess.run(["cp", "-r", str(SOURCE) + "/.", str(build)], check=True)
    r = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--target", str(target), str(build)],
        capture_output=True, text=True, timeout=300,
    )
    assert r.returncode == 0, r.stderr
    return target


def env_with(site: Path) -> dict:
    return {"PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}


def test_listed(site, aa):
    r = aa("plugins", "--json", env=env_with(site))
    rows = json.loads(r.stdout)["components"]
    assert {"kind": "cell", "name": "residual_tanh", "distribution": "aa-example-cell"}.items() <= next(
        row for row in rows if row["name"] == "residual_tanh"
    ).items()


def test_usable_in_a_spec(site, tmp_path, aa):
    spec = tmp_path / "s.toml"
    spec.write_text('[geometry]\nsize = [4, 4, 4]\n[cell]\nname = "residual_tanh"\nchannels = 5\n')
    r = aa("check", str(spec), env=env_with(site))
    assert r.returncode == 0, r.stderr
    assert "residual_tanh" in r.stdout and "aa-example-cell" in r.stdout
    assert f"{(2 * 5 + 1) * 5:,}" in r.stdout  # its parameter count


def test_passes_the_conformance_kit(site):
    code = (
        "from aa_core.conformance import build_registered, check_cell;"
        "cell, ctx = build_registered('cell', 'residual_tanh');"
        "check_cell(cell, ctx.geometry); print('CONFORMS')"
    )
    r = subprocess.run([sys.executable, "-c", code], env={**os.environ, **env_with(site)}, capture_output=True, text=True, timeout=120)
    assert "CONFORMS" in r.stdout, r.stderr
