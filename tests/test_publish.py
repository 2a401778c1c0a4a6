"""Publishing, end to end through a real package index.

scripts/build_all.sh builds every distribution (sdist + wheel, twine check, package-data check); a
local ``pypiserver`` on a free loopback port receives them by ``twine upload``; a fresh virtual
environment installs aa-core and every plugin *from that index* (the machine's default index only as
the extra index, for torch and third-party dependencies), and from an empty folder outside the
repository ``aa plugins --load``, ``aa registry lock --check`` and ``aa run`` of the quick start (its
spec and data copied out, as a user downloads them) work. Then a plugin written by ``aa plugin new``
is built, uploaded, installed beside aa-core from the index, loads, and passes its own kit tests. And
``pip install aa-nca`` alone, in another fresh venv, pulls none of the CA task suite's data or plotting
libraries (issue 34); the suite added there without extras loads, and a task whose extra is missing names it.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import tomllib
import urllib.request
import venv
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def _projects() -> dict[str, Path]:
    """distribution name → source folder, for every distribution build_all.sh builds."""
    out = {}
    tracked = subprocess.run(["git", "ls-files", "--", "*pyproject.toml"], cwd=REPO, capture_output=True, text=True).stdout.split()
    for pyproject in [REPO / "pyproject.toml", *sorted(REPO.glob("plugins/*/pyproject.toml")), *sorted(REPO.glob("examples/plugins/*/pyproject.toml"))]:
        if tracked and str(pyproject.relative_to(REPO)) not in tracked:
            continue  # not committed: someone's work in progress (build_all.sh skips it too)
        project = tomllib.loads(pyproject.read_text())["project"]
        out[project["name"]] = pyproject.parent
    return out


def _version(project: Path) -> str:
    return tomllib.loads((project / "pyproject.toml").read_text())["project"]["version"]


def _default_indexes() -> list[str]:
    """The index pip would use without us (config, then PIP_INDEX_URL, else PyPI) and the configured extra indexes."""
    conf = subprocess.run([sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True).stdout
    values: dict[str, list[str]] = {}
    for line in conf.splitlines():
        m = re.match(r"^[^.]+\.(index-url|extra-index-url)='(.*)'$", line.strip())
        if m:
            values.setdefault(m.group(1), []).extend(m.group(2).split())
    index = os.environ.get("PIP_INDEX_URL") or (values.get("index-url") or ["https://pypi.org/simple"])[0]
    extras = values.get("extra-index-url", []) + os.environ.get("PIP_EXTRA_INDEX_URL", "").split()
    return [index, *[e for e in extras if e != index]]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without anything that would let the repository's code leak in."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL")}
    env.update(extra)
    return env


def _run(cmd: list, timeout: float, **kw) -> subprocess.CompletedProcess:
    r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=timeout, **kw)
    assert r.returncode == 0, f"{' '.join(map(str, cmd))} → {r.returncode}\n{r.stdout[-4000:]}\n{r.stderr[-4000:]}"
    return r


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    """A running pypiserver (uploads without authentication, no fallback to another index): its URL."""
    packages = tmp_path_factory.mktemp("index-packages")
    port = _free_port()
    log = open(tmp_path_factory.mktemp("index-log") / "pypiserver.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "pypiserver", "run", "--host", "127.0.0.1", "--port", str(port),
                             "--authenticate", ".", "--passwords", ".", "--disable-fallback", str(packages)],
                            stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(url + "/simple/", timeout=2).read()
            break
        except OSError:
            assert proc.poll() is None, Path(log.name).read_text()
            assert time.monotonic() < deadline, "pypiserver did not answer within 60 s"
            time.sleep(0.3)
    yield url, packages
    proc.terminate()
    proc.wait(timeout=30)
    log.close()


def _upload(url: str, files: list[Path]) -> None:
    _run([sys.executable, "-m", "twine", "upload", "--non-interactive", "--disable-progress-bar", "--repository-url", url + "/",
          "-u", "aa", "-p", "aa", *files], timeout=300, env=_clean_env())


def _pip_install(py: Path, url: str, names: list[str], report: Path) -> dict:
    """pip install NAMES from the local index first (others only as extra indexes); returns pip's install report."""
    extras = [a for e in _default_indexes() for a in ("--extra-index-url", e)]
    _run([py, "-m", "pip", "install", "--quiet", "--report", report, "--index-url", url + "/simple/", *extras, *names],
         timeout=1800, env=_clean_env(PIP_DISABLE_PIP_VERSION_CHECK="1"))
    return json.loads(report.read_text())


def _assert_from_index(report: dict, url: str, names: set[str]) -> None:
    origin = {item["metadata"]["name"].lower(): item["download_info"]["url"] for item in report["install"]}
    for name in names:
        assert name in origin, f"{name} was not installed"
        assert origin[name].startswith(url + "/"), f"{name} came from {origin[name]}, not from the local index"


@pytest.fixture(scope="module")
def published(tmp_path_factory, index):
    """Everything built, checked, uploaded and installed from the index into a fresh venv."""
    url, packages = index
    dist = tmp_path_factory.mktemp("dist")
    t0 = time.perf_counter()
    # the current environment's setuptools builds (build_all.sh's isolated builds cost twice the CPU for the same wheels)
    r = _run(["bash", REPO / "scripts" / "build_all.sh", dist], timeout=1800, cwd=REPO, env={**os.environ, "AA_BUILD_NO_ISOLATION": "1"})
    build_s = time.perf_counter() - t0
    summary = json.loads(r.stdout.strip().splitlines()[-1])
    assert summary["ok"] is True
    print(f"\nbuilt {summary['distributions']} distributions in {build_s:.0f} s; wheels {summary['wheels']}")
    files = sorted(dist.glob("*.whl")) + sorted(dist.glob("*.tar.gz"))
    _upload(url, files)
    assert {p.name for p in packages.iterdir()} == {p.name for p in files}

    env_dir = tmp_path_factory.mktemp("fresh") / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    py = env_dir / "bin" / "python"
    projects = _projects()
    extras = {"aa-ca-suite": "[all]"}  # every task's data library, as requirements.txt installs it
    names = [f"{name}{extras.get(name, '')}=={_version(path)}" for name, path in projects.items()]
    t0 = time.perf_counter()
    report = _pip_install(py, url, ["torch==2.13.0", *names], env_dir / "report.json")
    print(f"installed {len(report['install'])} distributions into a fresh venv in {time.perf_counter() - t0:.0f} s")
    _assert_from_index(report, url, set(projects))
    return url, env_dir, projects


def test_the_index_serves_every_distribution(published):
    url, _, projects = published
    page = urllib.request.urlopen(url + "/simple/", timeout=10).read().decode()
    for name in projects:
        assert re.sub(r"[-_.]+", "-", name).lower() in page


def test_installed_from_the_index_works_from_an_empty_folder(published, tmp_path):
    url, env_dir, projects = published
    aa = env_dir / "bin" / "aa"
    work = tmp_path / "empty"
    work.mkdir()
    env = _clean_env()
    where = _run([env_dir / "bin" / "python", "-c", "import aa_core, aa_qa; print(aa_core.__file__, aa_qa.__file__)"], 60, cwd=work, env=env)
    assert str(REPO) not in where.stdout and "site-packages" in where.stdout

    r = _run([aa, "plugins", "--load"], 600, cwd=work, env=env)
    for name in projects:
        assert name in r.stdout
    assert "error" not in r.stdout
    r = _run([aa, "--version"], 120, cwd=work, env=env)
    assert all(name in r.stdout for name in projects) and "plugin API" in r.stdout
    _run([aa, "registry", "lock", "--check"], 600, cwd=work, env=env)

    # the quick start's spec and data, copied out as a user downloads them; run from the empty folder
    downloads = tmp_path / "downloads"
    (downloads / "data").mkdir(parents=True)
    shutil.copy(REPO / "examples" / "quickstart.toml", downloads)
    shutil.copy(REPO / "examples" / "data" / "ml_qa.jsonl", downloads / "data")
    r = _run([aa, "run", downloads / "quickstart.toml"], 1200, cwd=work, env=env)
    assert "lattice vs identity" in r.stdout and "Q: What is overfitting?\nA: " in r.stdout, r.stdout[-3000:]
    reports = list(work.glob("runs/*/report.json"))
    assert len(reports) == 1 and json.loads(reports[0].read_text()), sorted(str(p.relative_to(work)) for p in work.rglob("*"))[:40]
    assert list(work.glob("checkpoints/*/best"))


def test_a_generated_plugin_published_and_installed_from_the_index(published, tmp_path):
    url, env_dir, _ = published
    aa = env_dir / "bin" / "aa"
    env = _clean_env()
    src = tmp_path / "src"
    src.mkdir()
    _run([aa, "plugin", "new", "pubcell", "--kind", "cell", "--dir", src], 300, cwd=src, env=env)
    root = src / "aa-pubcell"
    assert re.search(r'"aa-core>=\d+\.\d+,<\d+\.\d+"', (root / "pyproject.toml").read_text())
    dist = tmp_path / "dist"
    _run([sys.executable, "-m", "build", "--outdir", dist, root], 900, env=env)
    _run([sys.executable, "-m", "twine", "check", "--strict", *dist.iterdir()], 120)
    _upload(url, sorted(dist.iterdir()))

    report = _pip_install(env_dir / "bin" / "python", url, ["aa-pubcell", "pytest", "hypothesis"], tmp_path / "report.json")
    _assert_from_index(report, url, {"aa-pubcell"})
    work = tmp_path / "elsewhere"
    shutil.copytree(root / "tests", work / "tests")  # the tests only: the package comes from site-packages
    r = _run([aa, "plugins", "--load"], 600, cwd=work, env=env)
    row = next(line for line in r.stdout.splitlines() if " pubcell " in line)
    assert "aa-pubcell" in row and row.rstrip().endswith("ok")
    r = _run([env_dir / "bin" / "pytest", "-q", "-p", "no:cacheprovider", "tests"], 900, cwd=work, env=env)
    assert " passed" in r.stdout and "failed" not in r.stdout


# what the CA task suite's extras bring, and aa-nca must not pull
SUITE_LIBRARIES = {"mnist1d", "nbtlib", "scikit-learn", "pillow", "matplotlib"}


def test_aa_nca_alone_pulls_no_task_library(published, tmp_path):
    """``pip install aa-nca`` into a fresh venv from the index (torch pinned to the CPU build every install here
    uses): aa-core, torch and their dependencies only; the growing_nca cell is listed under aa-nca and builds.
    Then ``pip install aa-ca-suite`` without extras adds nothing else, loads, and its voxel task names its extra."""
    url, _, projects = published
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    py, aa = env_dir / "bin" / "python", env_dir / "bin" / "aa"
    report = _pip_install(py, url, ["torch==2.13.0", f"aa-nca=={_version(projects['aa-nca'])}"], tmp_path / "nca.json")
    installed = {item["metadata"]["name"].lower() for item in report["install"]}
    print(f"\npip install aa-nca installed: {', '.join(sorted(installed))}")
    _assert_from_index(report, url, {"aa-nca", "aa-core"})
    assert not installed & (SUITE_LIBRARIES | {"aa-ca-suite"}), installed & (SUITE_LIBRARIES | {"aa-ca-suite"})
    work = tmp_path / "empty"
    work.mkdir()
    env = _clean_env()
    r = _run([aa, "plugins", "--load"], 600, cwd=work, env=env)
    rows = {tuple(line.split()[:3]) for line in r.stdout.splitlines()}
    assert {("cell", "growing_nca", "aa-nca"), ("pipeline", "growth", "aa-nca")} <= rows and "aa-ca-suite" not in r.stdout
    code = ("import torch; from aa_core.run import BuildContext, validate\n"
            "raw = {'geometry': {'name': 'lattice', 'size': [3, 3, 3]}, 'cell': {'name': 'growing_nca', 'channels': 4},"
            " 'propagator': {'name': 'nca'}, 'pipeline': {'name': 'growth', 'steps': [1, 2]}}\n"
            "m = BuildContext(validate(raw, source='x')).build('pipeline'); print(tuple(m.grow(torch.zeros(1, 27, 4), 2).shape))")
    assert _run([py, "-c", code], 300, cwd=work, env=env).stdout.strip() == "(1, 27, 4)"

    report = _pip_install(py, url, [f"aa-ca-suite=={_version(projects['aa-ca-suite'])}"], tmp_path / "suite.json")
    added = {item["metadata"]["name"].lower() for item in report["install"]}
    assert added == {"aa-ca-suite"}, added  # its base needs aa-core and aa-nca only: every data library is an extra
    r = _run([aa, "plugins", "--load"], 600, cwd=work, env=env)
    assert "voxel_growth" in r.stdout and "error" not in r.stdout
    r = subprocess.run([py, "-c", "import aa_ca.voxel"], capture_output=True, text=True, timeout=300, cwd=work, env=env)
    assert r.returncode != 0 and "pip install 'aa-ca-suite[voxel]'" in r.stderr, r.stderr[-2000:]
