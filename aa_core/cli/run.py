"""`aa run SPEC`: do what the spec's [run] section asks, task by task."""
from __future__ import annotations

import argparse
import json
from typing import Any

from ._common import add_spec_args


def add_parser(sub: Any) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser("run", help="run the tasks of a spec's [run] section")
    add_spec_args(p)
    p.add_argument("--resume", metavar="DIR", help="continue a run folder (or checkpoint) exactly where it stopped (= --set run.resume=DIR)")
    p.add_argument("--allow-change", dest="allow_change", action="append", default=[], metavar="KEY",
                   help="with --resume: a setting that may differ from the checkpoint's, e.g. train.epochs (repeatable; 'model', 'data')")
    p.add_argument("--force", action="store_true", help="run even when the memory estimate exceeds the memory available")
    return p


def main(args: argparse.Namespace) -> int:
    from ..spec import load_spec
    from ..tasks import run_spec

    overrides = list(args.overrides)
    if args.resume:
        overrides.append(f"run.resume={json.dumps(args.resume)}")
    if args.allow_change:
        overrides.append(f"run.allow_change={json.dumps(args.allow_change)}")
    if args.force:
        overrides.append("run.force=true")
    return run_spec(load_spec(args.spec, overrides))
