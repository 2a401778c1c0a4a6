"""The training memory estimate against the measured peak RSS of real training steps (fresh processes)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).parent / "scripts" / "measure_training_rss.py"
FACTOR = 2.0  # the estimate is within this factor of the measured peak


@pytest.mark.parametrize("args", [("24", "8", "32", "4", "8"), ("32", "8", "32", "4", "8"), ("32", "8", "32", "6", "8", "checkpointing")])
def test_training_estimate_is_within_a_factor_of_measured_peak_rss(args):
    r = subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr
    m = json.loads(r.stdout.strip().splitlines()[-1])
    ratio = m["estimate"] / m["measured"]
    assert 1 / FACTOR <= ratio <= FACTOR, f"estimate {m['estimate']:,} vs measured {m['measured']:,} (ratio {ratio:.2f}) for {args}"
