"""MkDocs hooks of the docs site (mkdocs.yml): pages that include the repository's own texts, and
the spec reference generated from the installed code, so that the site never holds a second copy.

Markers in a page under docs/ (each alone on a line)::

    <!-- aa:section README.md "Quick start" -->   that section's body (to the next heading of its level)
    <!-- aa:intro README.md -->                    the text between its title and its first ## heading
    <!-- aa:file CONTRIBUTING.md -->               the whole file
    <!-- aa:spec-reference -->                    scripts/spec_reference.py's output

Relative links in included text are rewritten for the site: ``docs/x.md`` → ``x.md``, the other
included files → their pages; a link to anything else in the repository (an example spec, a
source file) becomes its plain text, since the site does not carry it.
"""
from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PAGES = {"README.md": "index.md", "CONTRIBUTING.md": "write-a-cell.md", "CHANGELOG.md": "changelog.md"}
_MARKER = re.compile(r"^<!-- aa:(section|intro|file|spec-reference)\s*(\S+)?\s*(?:\"([^\"]+)\")?\s*-->$", re.M)
_LINK = re.compile(r"(!?)\[([^\]]*)\]\(([^)\s]+)\)")
_spec_reference: str | None = None


def _headings(text: str) -> list[tuple[int, int, int, str]]:
    """(start, end, level, title) of each Markdown heading outside fenced code blocks."""
    out, fenced, pos = [], False, 0
    for line in text.splitlines(keepends=True):
        if line.lstrip().startswith(("```", "~~~")):
            fenced = not fenced
        m = None if fenced else re.match(r"^(#+) (.*?)\s*$", line)
        if m:
            out.append((pos, pos + len(line), len(m.group(1)), m.group(2)))
        pos += len(line)
    return out


def section(text: str, title: str) -> str:
    """The body of the Markdown section headed ``title`` (up to the next heading of the same or a higher level)."""
    heads = _headings(text)
    for i, (_start, end, level, name) in enumerate(heads):
        if name == title:
            stop = next((h[0] for h in heads[i + 1:] if h[2] <= level), len(text))
            return text[end:stop].strip() + "\n"
    raise ValueError(f"no section {title!r}")


def rewrite_links(text: str, page_dir: str = "") -> str:
    """Links of an included repository text, made valid on the site (see the module docstring)."""
    up = "../" * (page_dir.count("/") + 1) if page_dir else ""

    def fix(m: re.Match[str]) -> str:
        bang, label, target = m.groups()
        if re.match(r"^[a-z]+:|^#|^/", target):
            return m.group(0)
        path, _, anchor = target.partition("#")
        anchor = "#" + anchor if anchor else ""
        if path.startswith("docs/"):
            return f"{bang}[{label}]({up}{path[5:]}{anchor})"
        if path in PAGES:
            return f"{bang}[{label}]({up}{PAGES[path]}{anchor})"
        return label if not bang else f"*({label})*"

    return _LINK.sub(fix, text)


def _reference() -> str:
    global _spec_reference
    if _spec_reference is None:
        spec = importlib.util.spec_from_file_location("aa_spec_reference", ROOT / "scripts" / "spec_reference.py")
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        _spec_reference = module.markdown()
    return _spec_reference


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    page_dir = str(Path(page.file.src_uri).parent).replace(".", "") if "/" in page.file.src_uri else ""

    def include(m: re.Match[str]) -> str:
        what, name, title = m.groups()
        if what == "spec-reference":
            return _reference()
        text = (ROOT / name).read_text(encoding="utf-8")
        if what == "section":
            text = section(text, title)
        elif what == "intro":  # between the title and the first second-level heading
            text = re.split(r"^## ", re.split(r"^# .*$", text, maxsplit=1, flags=re.M)[-1], maxsplit=1, flags=re.M)[0].strip() + "\n"
        return rewrite_links(text, page_dir)

    return _MARKER.sub(include, markdown)
