"""Fixtures shared by the core's and the plugins' tests: run the real `aa` CLI in a subprocess; a small task plugin (tests/task_plugin) installed once, as a user installs one."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent


def run_aa(*args: str, cwd: Path | None = None, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """`python -m aa_core.cli ARGS` in a fresh process (the same code as the `aa` script)."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "aa_core.cli", *args],
        cwd=cwd or REPO,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture
def aa():
    return run_aa


@pytest.fixture(scope="session")
def aa_session():
    """``run_aa`` for module- and session-scoped fixtures (a test module cannot import conftest by name)."""
    return run_aa

TASK_PLUGIN = REPO / "tests" / "task_plugin"  # a small task plugin (dataset toy_classes), installed once as a user installs one


def install_task_plugin(target: Path, build: Path) -> dict[str, str]:
    """pip-install tests/task_plugin into ``target`` (built from a copy in ``build``, so nothing is left in
    the repo); the environment whose ``aa`` sees it."""
    shutil.copytree(TASK_PLUGIN, build, dirs_exist_ok=True, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    r = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--target", str(target),
                        str(build)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(target), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}


@pytest.fixture(scope="session")
def task_env(tmp_path_factory) -> dict[str, str]:
    """The environment (PYTHONPATH) of an `aa` that has the toy task plugin (dataset ``toy_classes``) installed."""
    return install_task_plugin(tmp_path_factory.mktemp("task_site"), tmp_path_factory.mktemp("task_src"))


def toml_value(v: object) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    return repr(v)


class ToyTask:
    """Specs of the toy task (a 3×3×3 lattice, 256 training examples in 32 batches: an epoch well under a
    second) and `aa` subprocesses on them, one thread each, in a folder of their own."""

    BASE: dict[str, dict[str, object]] = {
        "dataset": {"name": "toy_classes", "size": 512},
        "geometry": {"size": [3, 3, 3]},
        "cell": {"name": "mlp", "channels": 4, "hidden": 8},
        "propagator": {"steps": 2},
        "adapter": {"name": "linear"},
        "pipeline": {"name": "direct_embedding", "embedding_dim": 8},
        "train": {"epochs": 6, "batch_size": 8, "lr": 0.01, "patience": 100, "threads": 1, "select_on": "val_accuracy", "mode": "max"},
        "run": {"tasks": ["train"], "progress": False},
    }

    def __init__(self, env: dict[str, str], work: Path):
        self.env = {**env, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
        self.work = work

    def spec(self, name: str = "spec.toml", **sections: dict[str, object]) -> Path:
        """A spec file: BASE with ``sections``' keys replacing its keys (``None`` drops one); checkpoints under
        ``<name>-ckpt``, metrics under ``<name>-runs`` unless ``run`` says otherwise."""
        stem = Path(name).stem
        raw = {k: dict(v) for k, v in self.BASE.items()}
        raw["run"].update(checkpoint_dir=str(self.work / f"{stem}-ckpt"), output_dir=str(self.work / f"{stem}-runs"))
        for section, values in sections.items():
            raw.setdefault(section, {}).update(values)
        text = "".join(f"[{s}]\n" + "".join(f"{k} = {toml_value(v)}\n" for k, v in kv.items() if v is not None) + "\n"
                       for s, kv in raw.items())
        path = self.work / name
        path.write_text(text)
        return path

    def popen(self, *args: str) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-m", "aa_core.cli", *args], cwd=self.work, env=self.env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def run(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "aa_core.cli", *args], cwd=self.work, env=self.env, capture_output=True,
                              text=True, timeout=timeout)

    @staticmethod
    def only_dir(parent: Path) -> Path:
        (d,) = [p for p in parent.iterdir() if p.is_dir()]
        return d

    @staticmethod
    def final(run_dir: Path) -> tuple[dict, dict]:
        """The final checkpoint's weights and its metrics and history."""
        from safetensors.torch import load_file

        meta = json.loads((run_dir / "final" / "metadata.json").read_text())
        return load_file(str(run_dir / "final" / "model.safetensors")), {"metrics": meta["metrics"], "history": meta["history"]}


@pytest.fixture
def toy(task_env, tmp_path) -> ToyTask:
    """Specs of the toy task and `aa` runs on them in this test's folder."""
    return ToyTask(task_env, tmp_path)


@pytest.fixture(scope="session")
def toy_task() -> type[ToyTask]:
    """The :class:`ToyTask` class, for module-scoped fixtures that need their own folder."""
    return ToyTask


def _find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One cycle as a path ``[a, b, ..., a]``, or None (iterative depth-first search)."""
    state: dict[str, int] = {}  # 1: on the stack, 2: done
    for root in sorted(edges):
        if state.get(root):
            continue
        stack = [(root, iter(sorted(edges.get(root, ()))))]
        path = [root]
        state[root] = 1
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                state[node] = 2
                stack.pop()
                path.pop()
            elif state.get(child) == 1:
                return path[path.index(child):] + [child]
            elif not state.get(child):
                state[child] = 1
                path.append(child)
                stack.append((child, iter(sorted(edges.get(child, ())))))
    return None


@pytest.fixture(scope="session")
def find_cycle():
    """One cycle of an import graph ``{module: imported modules}`` as ``[a, b, ..., a]``, or None (the import-graph tests)."""
    return _find_cycle
