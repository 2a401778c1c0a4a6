"""Regenerate the docs' result tables from their CSV files (never typed by hand).

A table region in a Markdown file is delimited by ``<!-- table: docs/tasks/results.csv -->`` and
``<!-- /table -->``; its content is what ``aa sweep --render CSV`` prints for that file. A region
``<!-- headline: docs/tasks/headline.csv -->`` … ``<!-- /headline -->`` is the README's summary table, its
claims resolved against the study CSVs they name (``aa_sweep.headline``).

    python scripts/docs_tables.py           # rewrite every region of README.md and docs/*.md
    python scripts/docs_tables.py --check   # exit 1 naming each stale region (plugins/sweep/tests/test_docs_tables.py)
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

from aa_sweep.headline import render
from aa_sweep.study import markdown, read

REPO = Path(__file__).resolve().parents[1]
REGION = re.compile(r"(<!-- table: (?P<csv>[^ ]+) -->\n)(?P<body>.*?)(<!-- /table -->)", re.S)
HEADLINE = re.compile(r"(<!-- headline: (?P<csv>[^ ]+) -->\n)(?P<body>.*?)(<!-- /headline -->)", re.S)


def regenerate(text: str) -> str:
    text = REGION.sub(lambda m: m.group(1) + markdown(read(REPO / m.group("csv"))) + m.group(4), text)
    return HEADLINE.sub(lambda m: m.group(1) + render(REPO / m.group("csv"), REPO) + m.group(4), text)


def main() -> int:
    stale = []
    for path in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]:
        text = path.read_text(encoding="utf-8")
        new = regenerate(text)
        if new != text:
            stale.append(str(path.relative_to(REPO)))
            if "--check" not in sys.argv[1:]:
                path.write_text(new, encoding="utf-8")
    if stale and "--check" in sys.argv[1:]:
        print(f"stale result tables in {', '.join(stale)}: run python scripts/docs_tables.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
