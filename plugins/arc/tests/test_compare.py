"""Runs compared with tasks as the paired unit: discordant tasks, the sign test, the table, bad input."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from aa_arc.compare import paired, sign_test, table

SETTINGS = {"hidden": 20, "width": 64, "steps": 12, "steps_jitter": 0, "train_steps": 100, "lr": 0.003, "fire_rate": 1.0, "seed": 0}


def run(tmp_path: Path, name: str, solved: dict[str, bool], **changes) -> Path:
    folder = tmp_path / name
    folder.mkdir()
    summary = {"label": "ARC-AGI-1 training", "settings": {**SETTINGS, **changes}, "cpu": {"mean_s": 5.0},
               "scores": {"k": 2, "per_task": {t: {"solved": s, "grids_solved": int(s), "grids": 1} for t, s in solved.items()}}}
    (folder / "results.json").write_text(json.dumps(summary))
    return folder


def test_the_sign_test_is_exact():
    assert sign_test(0, 5) == 2 / 32
    assert sign_test(3, 3) == 1.0
    assert sign_test(0, 0) == 1.0
    assert abs(sign_test(1, 9) - 2 * 11 / 1024) < 1e-12


def test_runs_are_paired_task_by_task_on_the_common_tasks(tmp_path):
    base = json.loads((run(tmp_path, "base", {"a": True, "b": False, "c": False, "d": True}) / "results.json").read_text())
    other = json.loads((run(tmp_path, "wide", {"a": True, "b": True, "c": True, "d": False, "e": True}, hidden=40) / "results.json").read_text())
    c = paired(other, base)
    assert (c["tasks"], c["solved"], c["reference_solved"], c["gained"], c["lost"]) == (4, 3, 2, 2, 1)
    assert abs(c["diff"] - 0.25) < 1e-12 and c["lo"] < 0.25 < c["hi"]


def test_the_table_names_what_changed(tmp_path):
    base = run(tmp_path, "base", {"a": True, "b": False})
    other = run(tmp_path, "longer", {"a": True, "b": True}, train_steps=300)
    text = table([base, other], base)
    assert "| base | reference |" in text
    assert "| longer | train_steps=300 | 2 | 2 | 1 / 0 |" in text
    fewer = run(tmp_path, "sample", {"b": True}, steps=24)  # a run over part of the reference's tasks
    assert "| sample | steps=24 | 1 | 1 (reference: 0) | 1 / 0 |" in table([base, fewer], base)


def test_an_unfinished_run_is_a_clear_error(tmp_path):
    base = run(tmp_path, "base", {"a": True})
    (tmp_path / "unfinished").mkdir()
    p = subprocess.run([sys.executable, "-m", "aa_arc.compare", str(base), str(tmp_path / "unfinished")], capture_output=True, text=True)
    assert p.returncode == 2
    assert "no results.json" in p.stderr and "Traceback" not in p.stderr
