"""`aa run SPEC`: do what the spec's [run] section asks, task by task."""
from __future__ import annotations

import argparse
from typing import Any

from ._common import add_spec_args


def add_parser(sub: Any) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser("run", help="run the tasks of a spec's [run] section")
    add_spec_args(p)
    return p


def main(args: argparse.Namespace) -> int:
    from ..spec import load_spec
    from ..tasks import run_spec

    return run_spec(load_spec(args.spec, args.overrides))
