"""`aa run SPEC`: do what the spec's [run] section asks (check, train, evaluate, ask)."""
from __future__ import annotations

from ._common import add_spec_args


def add_parser(sub):
    p = sub.add_parser("run", help="run the tasks of a spec's [run] section")
    add_spec_args(p)
    return p


def main(args) -> int:
    from .._run import run_spec
    from .._spec import load_spec

    spec = load_spec(args.spec, args.overrides)
    return run_spec(spec)
