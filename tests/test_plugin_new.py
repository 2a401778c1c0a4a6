"""`aa plugin new`: the generated distribution installs, loads, checks and passes its own tests.

Real subprocesses throughout: generate a cell plugin, pip install it with --target, then run
`aa plugins --load`, `aa check` on its example and pytest on its tests with that PYTHONPATH. The same for a
task (`--kind task`: a dataset, its objective and a pipeline), whose example `aa run` trains and tests.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


def env_with(site: Path) -> dict:
    return {"PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}


def generate_and_install(tmp_path_factory, run_aa, name: str, kind: str) -> tuple[Path, Path]:
    """`aa plugin new NAME --kind KIND`, then pip install the result with --target: (its folder, the site folder)."""
    src = tmp_path_factory.mktemp("src")
    site = tmp_path_factory.mktemp("site")
    r = run_aa("plugin", "new", name, "--kind", kind, "--dir", str(src))
    assert r.returncode == 0, r.stderr
    root = src / f"aa-{name}"
    r = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--target", str(site), str(root)],
        capture_output=True, text=True, timeout=300,
    )
    assert r.returncode == 0, r.stderr
    return root, site


@pytest.fixture(scope="module")
def generated(tmp_path_factory, aa_session):
    return generate_and_install(tmp_path_factory, aa_session, "genscell", "cell")


@pytest.fixture(scope="module")
def generated_task(tmp_path_factory, aa_session):
    return generate_and_install(tmp_path_factory, aa_session, "genstask", "task")


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


@pytest.mark.parametrize("which", ["generated", "generated_task"])
def test_its_own_tests_pass(which, request):
    root, site = request.getfixturevalue(which)
    r = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", str(root / "tests"), "-p", "no:cacheprovider"],
        cwd=root, env={**os.environ, **env_with(site)}, capture_output=True, text=True, timeout=300,
    )
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    assert "passed" in r.stdout and "failed" not in r.stdout


def test_a_task_lists_its_dataset_objective_and_pipeline(generated_task, aa):
    root, site = generated_task
    assert not (root / "aa_genstask" / "cell.py").exists()
    for rel in ("aa_genstask/config.py", "aa_genstask/data.py", "aa_genstask/objective.py", "aa_genstask/pipeline.py",
                "tests/test_genstask.py", "tests/test_run.py", "examples/genstask.toml", "README.md"):
        assert (root / rel).is_file(), rel
    hooks = (root / "aa_genstask/_plugin.py").read_text()
    assert "import torch" not in hooks and 'defaults={"objective": "genstask"}' in hooks
    r = aa("plugins", "--load", env=env_with(site))
    assert r.returncode == 0, r.stderr
    rows = [line.split() for line in r.stdout.splitlines() if " genstask " in line]
    assert sorted(row[0] for row in rows) == ["dataset", "objective", "pipeline"] and all(row[-1] == "ok" for row in rows)


def test_a_task_example_trains_and_tests(generated_task, aa, tmp_path):
    """`aa run` on the generated spec: the train task, then the test task, as a user runs it after `pip install`."""
    root, site = generated_task
    spec = root / "examples" / "genstask.toml"
    assert 'tasks = ["train", "test"]' in spec.read_text()
    r = aa("run", str(spec), "--set", f"run.output_dir={json.dumps(str(tmp_path / 'runs'))}",
           "--set", f"run.checkpoint_dir={json.dumps(str(tmp_path / 'checkpoints'))}", "--set", "run.progress=false",
           env=env_with(site), cwd=tmp_path)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    (run,) = (tmp_path / "runs").iterdir()
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["selected"] == "val_accuracy" and {"test_loss", "test_accuracy", "test_exact"} <= set(metrics["test"])
    assert metrics["test"]["test_accuracy"] > 0.95  # the rule is learned, not the 80 % of "every cell dead"
    flat = aa("check", str(spec), "--set", 'pipeline={name="flat_mlp"}', env=env_with(site), cwd=tmp_path)
    assert flat.returncode == 0 and "flat_mlp" in flat.stdout, flat.stderr  # io_shapes(): the core's baseline fits it


def test_a_task_dataset_that_disagrees_with_the_geometry_is_refused_by_aa_check(generated_task, aa, tmp_path):
    root, site = generated_task
    r = aa("check", str(root / "examples" / "genstask.toml"), "--set", "geometry.size=[6,6,5]", env=env_with(site), cwd=tmp_path)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert "dataset.size: is [6, 6, 6], but geometry.size = [6, 6, 5]" in r.stderr
    assert list(tmp_path.iterdir()) == []


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
