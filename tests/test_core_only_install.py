"""`pip install .` of the core alone, in a fresh virtual environment: no transformers (nor the other
application dependencies), and `aa plugins`, `aa registry list` and `aa check` of a lattice-only spec work."""
from __future__ import annotations

import subprocess
import venv
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

LATTICE_ONLY = """
[geometry]
size = [8, 8, 8]
neighbourhood = 18
[cell]
name = "depthwise"
channels = 8
[propagator]
steps = 4
"""


@pytest.mark.slow
def test_core_alone_installs_without_the_application_and_checks_a_lattice_spec(tmp_path):
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    py = env_dir / "bin" / "python"
    r = subprocess.run([str(py), "-m", "pip", "install", "-q", "torch==2.13.0", str(REPO)], capture_output=True, text=True, timeout=1200)
    assert r.returncode == 0, r.stderr[-3000:]
    for dist in ("transformers", "sentence-transformers", "sacrebleu", "rouge-score", "matplotlib"):
        assert subprocess.run([str(py), "-m", "pip", "show", dist], capture_output=True).returncode == 1, f"{dist} is installed"
    aa = env_dir / "bin" / "aa"
    r = subprocess.run([str(aa), "plugins", "--load"], capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 0 and "aa-core" in r.stdout and "aa-qa" not in r.stdout, r.stderr
    r = subprocess.run([str(aa), "registry", "list"], capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 0 and "3d_cellular" in r.stdout, r.stderr
    spec = tmp_path / "lattice.toml"
    spec.write_text(LATTICE_ONLY)
    r = subprocess.run([str(aa), "check", str(spec)], capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 0 and "depthwise" in r.stdout and "total" in r.stdout, r.stderr
