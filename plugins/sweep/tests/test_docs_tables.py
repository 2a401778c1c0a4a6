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


def test_the_readme_summary_is_a_headline_region():
    assert (REPO / "README.md").read_text(encoding="utf-8").count("<!-- headline: docs/tasks/headline.csv -->") == 1


def test_a_win_needs_like_for_like_five_seeds_and_an_interval_above_zero():
    from aa_sweep.headline import verdict

    assert verdict(0.01, 0.03, 10, "max", "like for like") == "**wins**"
    assert verdict(0.01, 0.03, 3, "max", "like for like").startswith("higher")          # too few seeds
    assert verdict(0.01, 0.03, 10, "max", "baseline larger").startswith("higher")       # not like for like
    assert verdict(-0.01, 0.03, 10, "max", "like for like").startswith("**ties**")
    assert verdict(-0.03, -0.01, 10, "max", "like for like") == "**loses**"
    assert verdict(-0.03, -0.01, 10, "min", "like for like") == "**wins**"              # lower is better


def test_claims_resolve_study_rows_and_refuse_a_missing_one(tmp_path):
    import pytest

    from aa_sweep.headline import render
    from aa_sweep.study import COLUMNS, upsert

    def row(config, values):
        r = dict.fromkeys(COLUMNS, "")
        r.update(task="t", config=config, seeds=",".join(str(i) for i in range(len(values))), metric="test_accuracy", mode="max",
                 test_mean=str(sum(values) / len(values)), test_per_seed=";".join(map(str, values)))
        return r

    upsert(tmp_path / "s.csv", [row("lattice", [0.9, 0.91, 0.92, 0.93, 0.94]), row("cnn", [0.8, 0.82, 0.81, 0.83, 0.85])])
    claims = tmp_path / "claims.csv"
    claims.write_text("task,lattice,baseline,published,comparison,verdict,seeds,note\n"
                      "t (accuracy),s.csv#t|lattice,s.csv#t|cnn,,like for like,auto,,\n", encoding="utf-8")
    table = render(claims, tmp_path)
    assert "| +9.8 [+8.8, +10.8] |" in table and "**wins**" in table and table.rstrip().endswith("| 5 |")
    claims.write_text("task,lattice,baseline,published,comparison,verdict,seeds,note\nt,s.csv#t|nope,s.csv#t|cnn,,like for like,auto,,\n",
                      encoding="utf-8")
    with pytest.raises(ValueError, match="nope"):
        render(claims, tmp_path)
