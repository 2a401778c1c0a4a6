"""The architecture registry: lock integrity, builds and parameter counts, CLI, speed."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from aa_core.architectures import (
    ArchitectureDeprecationWarning,
    folders,
    lock_problems,
    registry,
    write_lock,
)
from aa_core.assemble import architecture_spec, count_architecture_params
from aa_core.spec import validate

KEYS = sorted(registry().items)
REAL_BUILD_CELLS = 50_000  # above this, count parameters on torch's meta device


def _cells(key: str) -> int:
    g = registry().items[key].spec.get("geometry", {})
    size, s = g.get("size", [8, 8, 8]), g.get("scale_factor", 1.0)
    n = 1
    for side in size:
        n *= max(1, int(side * s + 0.5))
    return n


def test_at_least_six_versions():
    assert len(KEYS) >= 6, KEYS


def test_every_version_is_locked_and_unchanged():
    """Editing a released TOML without a new version (or forgetting `aa registry lock`) fails here."""
    problems = [str(p) for folder, source in folders() for p in lock_problems(folder, source)]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("key", KEYS)
def test_architecture_builds_and_params_match_lock(key):
    arch = registry().items[key]
    assert arch.locked_hash == arch.hash, f"{key}: {arch.path} differs from registry.lock"
    spec = architecture_spec(arch)  # validates like `aa check`
    if _cells(key) <= REAL_BUILD_CELLS:
        from aa_core.assemble import build_model, count_params

        model, _ = build_model(spec)  # what `aa check` does (forward passes: tests/test_conformance.py)
        params = count_params(model)
    else:
        params = count_architecture_params(arch, meta=True)
    assert params == arch.params, f"{key}: {params:,} parameters built, {arch.params:,} in registry.lock"


def _copy_core(tmp_path: Path) -> Path:
    folder = tmp_path / "reg"
    shutil.copytree(folders()[0][0], folder)
    return folder


def test_edited_release_is_detected_and_lock_refuses(tmp_path, aa):
    folder = _copy_core(tmp_path)
    toml = folder / "3d_cellular-1.0.toml"
    toml.write_text(toml.read_text().replace("steps = 8", "steps = 9"))
    problems = lock_problems(folder, "test")
    assert [p.path for p in problems] == ["3d_cellular@1.0", "3d_cellular_v1@1.0"]  # the alias follows its target
    assert "immutable" in problems[0].message
    before = (folder / "registry.lock").read_text()
    r = aa("registry", "lock", "--folder", str(folder))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "3d_cellular@1.0" in r.stderr and "immutable" in r.stderr
    assert (folder / "registry.lock").read_text() == before


def test_lock_adds_only_new_versions(tmp_path):
    folder = _copy_core(tmp_path)
    before = (folder / "registry.lock").read_text()
    src = (folder / "3d_cellular-1.0.toml").read_text()
    (folder / "3d_cellular-9.0.toml").write_text(src.replace('version = "1.0"', 'version = "9.0"').replace("hidden = 64", "hidden = 32"))
    assert [p.path for p in lock_problems(folder, "test")] == ["3d_cellular@9.0"]
    added, kept = write_lock(folder, "test", count_architecture_params)
    assert added == ["3d_cellular@9.0"] and "3d_cellular@1.0" in kept
    import tomllib

    after = tomllib.loads((folder / "registry.lock").read_text())
    old = tomllib.loads(before)
    assert {k: v for k, v in after.items() if k in old} == old  # existing entries untouched
    assert lock_problems(folder, "test") == []
    entry = after["3d_cellular@9.0"]
    assert entry["params"] < registry().items["3d_cellular@1.0"].params


def test_deprecated_alias_warns_and_resolves_to_target():
    with pytest.warns(ArchitectureDeprecationWarning, match="use 3d_cellular@1.0"):
        alias = registry().get("3d_cellular_v1@1.0")
    assert alias.spec == registry().items["3d_cellular@1.0"].spec


def test_spec_with_architecture_and_overrides_resolves():
    spec = validate({"architecture": "3d_cellular@1.0", "cell": {"hidden": 32}, "geometry": {"size": [4, 4, 4]}})
    r = spec.resolved()
    assert r["architecture"] == "3d_cellular@1.0"
    assert r["cell"]["hidden"] == 32 and r["cell"]["channels"] == 16 and r["propagator"]["steps"] == 8
    base = validate({"architecture": "3d_cellular@1.0"})
    assert spec.model_hash() != base.model_hash()


def test_list_is_fast_and_imports_no_torch():
    code = (
        "import sys, time, io, contextlib; t = time.perf_counter(); from aa_core.cli import main;"
        "buf = io.StringIO();\nwith contextlib.redirect_stdout(buf): rc = main(['registry', 'list', '--json'])\n"
        "print('SECONDS', time.perf_counter() - t); print('TORCH', 'torch' in sys.modules); print('ROWS', len(__import__('json').loads(buf.getvalue())))"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    out = dict(line.split(" ", 1) for line in r.stdout.splitlines())
    assert out["TORCH"] == "False"
    assert int(out["ROWS"]) >= 6
    assert float(out["SECONDS"]) < 1.0, out


def test_list_json_fields(aa):
    t = time.perf_counter()
    r = aa("registry", "list", "--json")
    wall = time.perf_counter() - t
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)
    keys = {row["key"] for row in rows}
    assert {"3d_cellular@1.0", "area_focused@1.0", "broca@1.0", "broca_dev@1.0"} <= keys
    for row in rows:
        assert row["status"] == "locked" and row["params"] > 0 and len(row["hash"]) == 64
    assert wall < 5  # whole interpreter start included; the in-process figure is tested above
    r = aa("registry", "list", "broca*")
    assert r.returncode == 0 and "broca_dev" in r.stdout and "3d_cellular" not in r.stdout


def test_show_diff_and_errors(aa):
    r = aa("registry", "show", "broca_dev@1.0")
    assert r.returncode == 0, r.stderr
    assert "scale_factor = 0.1" in r.stdout and "boundary" in r.stdout  # resolved: defaults filled in
    r = aa("registry", "show", "3d_cellular_v1@1.0")
    assert r.returncode == 0 and "deprecated; use 3d_cellular@1.0" in r.stderr
    r = aa("registry", "diff", "3d_cellular@1.0", "3d_cellular@1.1")
    assert r.returncode == 0 and "+ pipeline.residual = True" in r.stdout
    r = aa("registry", "show", "3d_celular@1.0")
    assert r.returncode == 2 and "did you mean '3d_cellular@1.0'" in r.stderr and "Traceback" not in r.stderr
    r = aa("registry", "show", "3d_cellular")
    assert r.returncode == 2 and "versions: 1.0, 1.1" in r.stderr
    r = aa("registry", "lock", "--check")
    assert r.returncode == 0, r.stderr
