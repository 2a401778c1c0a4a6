"""The fault table of the reliability issue, re-run as a user would (real CLI subprocesses):
each case ends in exit 0 with the work kept, or exit 2 with a clear message, never a traceback."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
DATA = REPO / "examples" / "data" / "ml_qa.jsonl"

TINY = """
[geometry]
size = [2, 2, 2]
[cell]
channels = 2
hidden = 4
[propagator]
steps = 1
[data]
path = "{data}"
limit = 40
[train]
epochs = 1
[run]
tasks = ["train"]
progress = false
"""


def no_traceback(r: subprocess.CompletedProcess) -> None:
    assert "Traceback" not in r.stderr and "Traceback" not in r.stdout, r.stderr


def test_checkpoint_dir_that_is_a_file_is_refused_before_training(tmp_path, aa):
    spec = tmp_path / "s.toml"
    spec.write_text(TINY.format(data=DATA))
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    r = aa("run", str(spec), "--set", f"run.checkpoint_dir={json.dumps(str(blocker / 'ck'))}")
    assert r.returncode == 2 and "run.checkpoint_dir" in r.stderr and "is a file" in r.stderr
    assert "training" not in r.stdout  # refused before any work
    no_traceback(r)


def test_bare_word_for_a_list_key_is_one_clear_error(tmp_path, aa):
    spec = tmp_path / "s.toml"
    spec.write_text(TINY.format(data=DATA))
    r = aa("check", str(spec), "--set", "run.tasks=check")
    assert r.returncode == 2 and r.stderr.count("run.tasks") == 1 and "['check']" in r.stderr
    no_traceback(r)


def test_relative_data_path_resolves_against_the_spec_folder_and_failure_creates_nothing(tmp_path, aa):
    folder = tmp_path / "other" / "dir"
    folder.mkdir(parents=True)
    (folder / "qa.jsonl").write_text(DATA.read_text())
    spec = folder / "spec.toml"
    spec.write_text(TINY.format(data="qa.jsonl").replace("[run]", f'[tokenizer]\ncache_dir = "{tmp_path / "cache"}"\n[run]\n'
                                                         f'checkpoint_dir = "{tmp_path / "ck"}"'))
    cwd = tmp_path / "elsewhere"
    cwd.mkdir()
    r = aa("run", str(spec), cwd=cwd)
    assert r.returncode == 0, r.stderr
    # a missing data file: exit 2 naming it, and nothing created on disk
    spec.write_text(spec.read_text().replace('"qa.jsonl"', '"missing.jsonl"').replace(str(tmp_path / "ck"), str(tmp_path / "ck2"))
                    .replace(str(tmp_path / "cache"), str(tmp_path / "cache2")))
    r = aa("run", str(spec), cwd=cwd)
    assert r.returncode == 2 and "missing.jsonl" in r.stderr
    no_traceback(r)
    assert not (tmp_path / "ck2").exists() and not (tmp_path / "cache2").exists() and not (cwd / ".aa_cache").exists()


def test_huge_lattice_is_refused_before_allocating(tmp_path, aa):
    spec = tmp_path / "s.toml"
    spec.write_text(TINY.format(data=DATA).replace("size = [2, 2, 2]", "size = [400, 400, 400]"))
    for args in (("check", str(spec)), ("run", str(spec))):
        r = aa(*args, timeout=120)
        assert r.returncode == 2 and "available" in r.stderr and "--force" in r.stderr, r.stderr
        no_traceback(r)


def test_a_plugin_claiming_a_taken_name_fails_only_specs_using_it(tmp_path, aa):
    src = tmp_path / "src"
    (src / "aa_twin_gmlp").mkdir(parents=True)
    (src / "aa_twin_gmlp" / "__init__.py").write_text(
        "import attrs\nfrom aa_core.plugin import Component, hookimpl\n\n@attrs.define\nclass Cfg:\n    channels: int = 4\n\n"
        "def build(config, ctx):\n    raise NotImplementedError\n\n"
        "@hookimpl\ndef aa_components():\n    return [Component('cell', 'gmlp', Cfg, 'aa_twin_gmlp:build')]\n")
    (src / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools>=68"]\nbuild-backend = "setuptools.build_meta"\n'
        '[project]\nname = "aa-twin-gmlp"\nversion = "0.1"\n[project.entry-points."aa.plugins"]\ntwin = "aa_twin_gmlp"\n'
        '[project.entry-points."aa.components"]\n"cell.gmlp" = "aa_twin_gmlp"\n')
    site = tmp_path / "site"
    r = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--target", str(site), str(src)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    env = {"PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}
    ok = tmp_path / "mlp.toml"
    ok.write_text("[geometry]\nsize = [3, 3, 3]\n[cell]\nname = 'mlp'\n")
    r = aa("check", str(ok), env=env)
    assert r.returncode == 0, r.stderr  # a spec not using gmlp is unaffected
    r = aa("registry", "list", env=env)
    assert r.returncode == 0 and "3d_cellular" in r.stdout, r.stderr
    bad = tmp_path / "gmlp.toml"
    bad.write_text("[geometry]\nsize = [3, 3, 3]\n[cell]\nname = 'gmlp'\n")
    r = aa("check", str(bad), env=env)
    assert r.returncode == 2 and r.stderr.count("registered by two distributions") == 1
    assert "aa-gmlp" in r.stderr and "aa-twin-gmlp" in r.stderr
    no_traceback(r)
