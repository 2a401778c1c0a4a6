"""`aa check SPEC`: validate a spec and build its model without reading any data."""
from __future__ import annotations

import argparse
from typing import Any

from ._common import add_spec_args


def add_parser(sub: Any) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser("check", help="validate a spec and build its model (reads no data)")
    add_spec_args(p)
    p.add_argument("--force", action="store_true", help="exit 0 even when the memory estimate exceeds the memory available")
    return p


def main(args: argparse.Namespace) -> int:
    from ..spec import load_spec
    from ..tasks import describe

    print(describe(load_spec(args.spec, [*args.overrides, *(["run.force=true"] if args.force else [])])))
    return 0
