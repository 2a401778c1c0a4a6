"""aa-serve test fixtures: checkpoints trained once per session from the quick-start spec, and the
service started as a real `aa serve` subprocess on a free loopback port."""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parents[3]
QUICKSTART = REPO / "examples" / "quickstart.toml"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def train(folder: Path, epochs: int, seed: int) -> Path:
    """The quick-start spec, trained for ``epochs`` into a run folder under ``folder`` (train task only)."""
    folder.mkdir(parents=True, exist_ok=True)
    r = subprocess.run([sys.executable, "-m", "aa_core.cli", "run", str(QUICKSTART), "--set", f"train.epochs={epochs}",
                        "--set", f"train.seed={seed}", "--set", "train.patience=100", "--set", f"run.checkpoint_dir={folder}",
                        "--set", f"run.output_dir={folder / 'runs'}", "--set", 'run.tasks=["train"]'],
                       cwd=REPO, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    runs = [p for p in folder.iterdir() if p.is_dir() and (p / "best").is_file()]
    assert len(runs) == 1, runs
    return runs[0]


@pytest.fixture(scope="session")
def checkpoints(tmp_path_factory) -> dict[str, Path]:
    """Two model versions (different seeds and epochs) and an older-format copy without a threshold."""
    root = tmp_path_factory.mktemp("serve_ckpt")
    a = train(root / "a", epochs=4, seed=0)
    b = train(root / "b", epochs=2, seed=1)
    old = root / "old"
    shutil.copytree(a / (a / "best").read_text().strip(), old)
    meta = json.loads((old / "metadata.json").read_text())
    meta.pop("abstention")
    (old / "metadata.json").write_text(json.dumps(meta))
    return {"a": a, "b": b, "old": old}


class Service:
    """`aa serve` as a subprocess; ``stop()`` sends SIGTERM and returns the exit code."""

    def __init__(self, args: list[str], env: dict[str, str] | None = None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen([sys.executable, "-m", "aa_core.cli", "serve", "--port", str(self.port), *args],
                                     cwd=REPO, env={**os.environ, **(env or {})}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.listening_s: float | None = None
        self.started = time.monotonic()

    def wait_listening(self, timeout: float = 120) -> None:
        """Block until the server prints that it listens (models may still be loading)."""
        assert self.proc.stderr is not None
        while True:
            line = self.proc.stderr.readline()
            if not line:
                raise AssertionError(f"aa serve exited ({self.proc.wait()}) before listening")
            if "listening on" in line:
                self.listening_s = time.monotonic() - self.started
                return
            if time.monotonic() - self.started > timeout:
                raise AssertionError("aa serve did not listen in time")

    def wait_ready(self, timeout: float = 180) -> float:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                if httpx.get(self.url + "/health/ready", timeout=5).status_code == 200:
                    return time.monotonic() - self.started
            except httpx.TransportError:
                pass
            assert self.proc.poll() is None, f"aa serve exited with {self.proc.returncode}"
            time.sleep(0.1)
        raise AssertionError("aa serve did not become ready in time")

    def stop(self, timeout: float = 60) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture(scope="session")
def service(checkpoints):
    """One service with three models: a (default), b and old (no abstention threshold)."""
    s = Service(["--checkpoint", f"a={checkpoints['a']}", "--checkpoint", f"b={checkpoints['b']}",
                 "--checkpoint", f"old={checkpoints['old']}", "--max-wait-ms", "20"])
    s.wait_listening()
    s.wait_ready()
    yield s
    assert s.stop() == 0


@pytest.fixture(scope="session")
def start_service():
    """``start_service(args, env)``: a new :class:`Service` (the test stops it)."""
    return Service


@pytest.fixture(scope="session")
def aa_serve():
    """``aa_serve(*args, env=...)``: run `aa serve ARGS` to completion (for refusals that exit at once)."""
    def run(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "aa_core.cli", "serve", *args], cwd=REPO, capture_output=True, text=True,
                              timeout=120, env={**os.environ, **(env or {})})
    return run
