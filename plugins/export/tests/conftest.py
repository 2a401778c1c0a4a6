"""aa-export test fixtures: small growth checkpoints trained once per session through `aa run` (an emoji model on a
32×32 lattice; the voxel caterpillar where ../shared/data has it), restored for export."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
EMOJI_SPEC = REPO / "examples" / "ca" / "emoji_growth.toml"
VOXEL_SPEC = REPO / "examples" / "ca" / "voxel_growth.toml"
CATERPILLAR = REPO.parent / "shared" / "data" / "voxel-artefacts" / "caterpillar_short.nbt"

# A small emoji model: 24² lizard on 32², 300 training steps (~15 s idle, ~35 s on a loaded 2-core machine). It is not a
# good lizard (docs/tasks.md has the trained one's figures); it grows a bounded pattern that regrows after damage,
# which is what the browser tests compare with AA's own roll-out.
EMOJI_SETTINGS = ["dataset.size=24", "dataset.grid=32", "geometry.size=[32,32,1]", "cell.hidden=[64]", "pipeline.steps=[32,48]",
                  "pipeline.eval_steps=48", "dataset.pool_size=64", "dataset.damage=1", "train.batch_size=4", "train.steps=300",
                  "train.eval_every=300", "train.threads=1", "train.seed=0"]
VOXEL_SETTINGS = ["train.steps=120", "train.eval_every=120", "dataset.pool_size=16", "train.batch_size=2", "pipeline.steps=[24,32]",
                  "pipeline.eval_steps=32", "train.threads=1", "train.seed=0"]  # grows ~200 living cells in 64 steps (~15 s)


def has_font() -> bool:
    try:
        from aa_ca.emoji import find_font
    except ImportError:
        return False
    return find_font() is not None


def train(spec: Path, settings: list[str], folder: Path) -> Path:
    """``aa run spec`` (train only) with ``settings``; the run folder."""
    args = [x for s in settings for x in ("--set", s)]
    r = subprocess.run([sys.executable, "-m", "aa_core.cli", "run", str(spec), *args, "--set", f"run.checkpoint_dir={folder}",
                        "--set", f"run.output_dir={folder / 'runs'}", "--set", 'run.tasks=["train"]'],
                       cwd=REPO, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    (run,) = [p for p in folder.iterdir() if p.is_dir() and p.name != "runs"]
    return run


@pytest.fixture(scope="session")
def emoji_checkpoint(tmp_path_factory) -> Path:
    if not has_font():
        pytest.skip("needs Debian's fonts-noto-color-emoji (the emoji_growth target)")
    return train(EMOJI_SPEC, EMOJI_SETTINGS, tmp_path_factory.mktemp("emoji_ckpt"))


@pytest.fixture(scope="session")
def voxel_checkpoint(tmp_path_factory) -> Path:
    if not CATERPILLAR.is_file():
        pytest.skip(f"needs {CATERPILLAR} (../shared/data beside the repository)")
    return train(VOXEL_SPEC, VOXEL_SETTINGS, tmp_path_factory.mktemp("voxel_ckpt"))


@pytest.fixture(scope="session")
def emoji_export(emoji_checkpoint):
    from aa_export.step import load

    return load(emoji_checkpoint)


class Service:
    """`aa serve ARGS` as a subprocess on a free loopback port, ready (its models loaded) on entering."""

    def __init__(self, args: list[str]):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(os.devnull, "w")  # noqa: SIM115 (closed in __exit__)
        self.proc = subprocess.Popen([sys.executable, "-m", "aa_core.cli", "serve", "--port", str(self.port), *args], cwd=REPO,
                                     stdout=self.log, stderr=subprocess.PIPE, text=True)
        self.stderr = ""

    def __enter__(self) -> Service:
        import httpx

        end = time.monotonic() + 180
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise AssertionError(f"aa serve exited ({self.proc.returncode}): {self.proc.stderr.read() if self.proc.stderr else ''}")
            try:
                if httpx.get(self.url + "/health/ready", timeout=5).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise AssertionError("aa serve was not ready within 180 s")

    def __exit__(self, *exc: object) -> None:
        self.proc.terminate()
        try:
            _, self.stderr = self.proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.communicate()
        self.log.close()


@pytest.fixture(scope="session")
def live_service(emoji_checkpoint):
    """`aa serve` of the emoji checkpoint as model "lizard" (its /live page: aa-export's aa_serve_pages hook)."""
    with Service(["--checkpoint", f"lizard={emoji_checkpoint}"]) as service:
        yield service
