"""The `aa` command: version, plugin listing speed, check output, exit codes."""
from __future__ import annotations

import json
import subprocess
import sys
import time

import aa_core


def check_spec(aa, tmp_path, text: str, name: str = "s.toml", **kw):
    """Write ``text`` as a spec file and run `aa check` on it in a subprocess."""
    spec = tmp_path / name
    spec.write_text(text)
    return aa("check", str(spec), **kw)


FIRST_PARTY = ["aa-gmlp", "aa-cct", "aa-ret", "aa-mamba", "aa-phrase-bank", "aa-universal-adapter"]


def test_version(aa):
    r = aa("--version")
    assert r.returncode == 0 and aa_core.__version__ in r.stdout


def test_no_command_is_usage_error(aa):
    assert aa().returncode == 2


def test_plugins_lists_all_distributions_and_builtins(aa):
    r = aa("plugins", "--json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    dists = {row["distribution"] for row in data["components"]}
    assert set(FIRST_PARTY) <= dists
    builtins = {(row["kind"], row["name"]) for row in data["components"] if row["distribution"] == "aa-core"}
    assert {("geometry", "lattice"), ("cell", "mlp"), ("propagator", "nca"), ("pipeline", "direct_embedding")} <= builtins


def test_plugins_is_fast_and_imports_no_torch_or_plugin():
    code = (
        "import sys, time; t = time.perf_counter(); from aa_core.cli import main; main(['plugins']);"
        "bad = [m for m in sys.modules if m == 'torch' or m.startswith('aa_') and not m.startswith('aa_core')];"
        "print('IMPORTED', bad); print('SECONDS', time.perf_counter() - t)"
    )
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    wall = time.perf_counter() - t0
    assert r.returncode == 0, r.stderr
    assert "IMPORTED []" in r.stdout, r.stdout
    assert wall < 3.0  # whole interpreter; the command itself is reported below
    assert float(r.stdout.split("SECONDS")[1]) < 1.0


def test_check_prints_components_params_and_memory(aa, tmp_path):
    r = check_spec(aa, tmp_path, "[geometry]\nsize = [4, 4, 4]\n[cell]\nchannels = 4\nhidden = 8\n", "s.toml")
    assert r.returncode == 0, r.stderr
    # mlp cell: (K·C + 1)·H + (H + 1)·C = (27·4 + 1)·8 + 9·4
    assert f"{(27 * 4 + 1) * 8 + 9 * 4:,}" in r.stdout
    assert "aa-core" in r.stdout and "estimated memory" in r.stdout


def test_run_check_task(aa, tmp_path):
    spec = tmp_path / "s.toml"
    spec.write_text("[geometry]\nsize = [3, 3, 3]\n[run]\ntasks = ['check']\n")
    r = aa("run", str(spec))
    assert r.returncode == 0, r.stderr
    assert "[check] done" in r.stdout


def test_unexpected_failure_is_exit_1(aa, tmp_path):
    """A plugin whose factory has a bug: exit 1 with the traceback (it is not the user's input)."""
    (tmp_path / "buggy_cell.py").write_text(
        "import attrs\nfrom aa_core import Component, hookimpl\n\n"
        "@attrs.define\nclass Cfg:\n    channels: int = 4\n\n"
        "def build(config, ctx):\n    return 1 / 0\n\n"
        "@hookimpl\ndef aa_components():\n    return [Component('cell', 'buggy', Cfg, build)]\n"
    )
    info = tmp_path / "buggy_cell-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: buggy-cell\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[aa.plugins]\nbuggy = buggy_cell\n\n[aa.components]\ncell.buggy = buggy_cell\n")
    r = check_spec(aa, tmp_path, '[geometry]\nsize = [3, 3, 3]\n[cell]\nname = "buggy"\n', "s.toml", env={"PYTHONPATH": str(tmp_path)})
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert "ZeroDivisionError" in r.stderr and "unexpected failure" in r.stderr


def test_check_of_a_huge_architecture_runs_on_the_meta_device(aa, tmp_path):
    r = check_spec(aa, tmp_path, 'architecture = "broca@1.0"\n', "broca.toml")
    assert r.returncode == 0, r.stderr
    assert "1,364,407,392" in r.stdout and "meta device" in r.stdout


def test_check_builds_components_that_cannot_live_on_meta(aa, tmp_path):
    # int8 quantisation at build needs real tensors
    r = check_spec(aa, tmp_path, '[geometry]\nsize = [3, 3, 3]\n[cell]\nname = "ret"\npreset = "reduced"\nint8 = true\n', "ret.toml")
    assert r.returncode == 0, r.stderr
    assert "meta device" not in r.stdout
