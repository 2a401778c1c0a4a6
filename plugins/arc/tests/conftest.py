"""A tiny `[arc]` spec for the real runs (4 small ARC-AGI-1 training tasks, seconds of CPU)."""
from __future__ import annotations

from pathlib import Path

import pytest

TINY = """[arc]
version = "arcagi"
split = "training"
task_ids = ["0d3d703e", "b1948b0a", "28bf18c6", "3aa6fb7a"]
train_steps = {train_steps}
eval_every = 2
steps = 3
hidden = 4
width = 8
group_size = {group_size}
pictures = 1
threads = 1

[run]
tasks = ["arc"]
output_dir = "{out}"
"""


@pytest.fixture
def tiny_spec(tmp_path: Path):
    def make(train_steps: int = 6, group_size: int = 8) -> Path:
        p = tmp_path / "tiny.toml"
        p.write_text(TINY.format(train_steps=train_steps, group_size=group_size, out=tmp_path / "runs"))
        return p
    return make
