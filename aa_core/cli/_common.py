"""Arguments shared by the commands that read a spec (plugins' commands use them too, via aa_core.cli)."""
from __future__ import annotations

from typing import Any


def add_set_arg(p: Any, help: str = "override a spec value (repeatable), e.g. --set cell.hidden=64 --set data.path=qa.jsonl") -> None:
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY.PATH=VALUE", help=help)


def add_spec_args(p: Any) -> None:
    p.add_argument("spec", help="path of a TOML spec")
    add_set_arg(p)
