"""`aa plugin new`: the generated distribution installs, loads, checks and passes its own tests.

Real subprocesses throughout: generate a cell plugin, pip install it with --target, then run
`aa plugins --load`, `aa check` on its example and pytest on its tests with that PYTHONPATH.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


def env_with(site: Path) -> dict:
    return {"PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}


@pytest.fixture(scope="module")
def generated(tmp_path_factory, aa_session):
    run_aa = aa_session
    src = tmp_path_factory.mktemp("src")
    site = tmp_path_factory.mktemp("site")
    r = run_aa("plugin", "new", "genscell", "--kind", "cell", "--dir", str(src))
    assert r.returncode == 0, r.stderr
    root = src / "aa-genscell"
    r = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--target", str(site), str(root)],
        capture_output=True, text=True, timeout=300,
    )
    assert r.returncode == 0, r.stderr
    return root, site


def test_layout(generated):
    root, site = generated
    for rel in ("pyproject.toml", "README.md", "aa_genscell/__init__.py", "aa_genscell/_plugin.py", "aa_genscell/config.py",
                "aa_genscell/cell.py", "tests/test_genscell.py", "examples/genscell.toml"):
        assert (root / rel).is_file(), rel
    hooks = (root / "aa_genscell/_plugin.py").read_text()
    assert "import torch" not in hooks and "from aa_core.plugin import" in hooks
    assert "lattice_forward" in (root / "aa_genscell/cell.py").read_text()
    assert (site / "aa_genscell" / "cell.py").is_file()


def test_loads_and_lists_the_cell(generated, aa):
    root, site = generated
    r = aa("plugins", "--load", env=env_with(site))
    assert r.returncode == 0, r.stderr
    row = next(line for line in r.stdout.splitlines() if " genscell " in line)
    assert row.split()[:2] == ["cell", "genscell"] and "aa-genscell" in row and row.rstrip().endswith("ok")


def test_example_checks(generated, aa):
    root, site = generated
    r = aa("check", str(root / "examples" / "genscell.toml"), env=env_with(site))
    assert r.returncode == 0, r.stderr
    assert "genscell" in r.stdout and "aa-genscell" in r.stdout


def test_its_own_tests_pass(generated):
    root, site = generated
    r = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", str(root / "tests"), "-p", "no:cacheprovider"],
        cwd=root, env={**os.environ, **env_with(site)}, capture_output=True, text=True, timeout=300,
    )
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    assert "passed" in r.stdout and "failed" not in r.stdout


@pytest.mark.parametrize("name,message", [("1bad", "not a Python identifier"), ("my-cell", "not a Python identifier"),
                                          ("gmlp", "already registered"), ("a" * 300, "is 300 characters long; give a name of at most 64")])
def test_bad_names_are_user_errors(name, message, tmp_path, aa):
    r = aa("plugin", "new", name, "--dir", str(tmp_path))
    assert r.returncode == 2
    assert message in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert not any(tmp_path.iterdir())


def test_existing_folder_is_a_user_error(tmp_path, aa):
    (tmp_path / "aa-taken").mkdir()
    r = aa("plugin", "new", "taken", "--dir", str(tmp_path))
    assert r.returncode == 2 and "already exists" in r.stderr


@pytest.mark.parametrize("where", ["file", "file/sub"])
def test_a_dir_that_is_a_file_is_a_user_error(where, tmp_path, aa):
    (tmp_path / "file").write_text("not a folder\n")
    r = aa("plugin", "new", "zz", "--dir", str(tmp_path / where))
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert ("is a file, not a folder" if where == "file" else "Not a directory") in r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]  # nothing half-written
