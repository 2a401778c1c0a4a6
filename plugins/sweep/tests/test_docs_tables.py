"""The docs' result tables are the CSV files rendered (scripts/docs_tables.py): a test fails when they drift."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]


def test_every_table_region_equals_its_csv_rendered():
    done = subprocess.run([sys.executable, str(REPO / "scripts" / "docs_tables.py"), "--check"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    regions = sum(p.read_text(encoding="utf-8").count("<!-- table: ") for p in [REPO / "README.md", *(REPO / "docs").glob("*.md")])
    assert regions >= 1
