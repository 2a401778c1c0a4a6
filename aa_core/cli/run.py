"""`aa run SPEC`: do what the spec's [run] section asks, task by task."""
from __future__ import annotations

import argparse
import json
import os
from typing import Any

from ._common import add_spec_args


def add_parser(sub: Any) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser("run", help="run the tasks of a spec's [run] section")
    add_spec_args(p)
    p.add_argument("--resume", metavar="DIR", help="continue a run folder (or checkpoint) exactly where it stopped (= --set run.resume=DIR)")
    p.add_argument("--allow-change", dest="allow_change", action="append", default=[], metavar="KEY",
                   help="with --resume: a setting that may differ from the checkpoint's, e.g. train.epochs (repeatable; 'model', 'data')")
    p.add_argument("--force", action="store_true", help="run even when the memory estimate exceeds the memory available")
    p.add_argument("--nproc", type=int, default=1, metavar="N",
                   help="run on N processes of this machine (data-parallel training; lattice-parallel with propagator nca_parallel): "
                        "runs torchrun --nproc-per-node N -m aa_core.cli run ... (several machines: torchrun --nnodes with a rendezvous)")
    return p


def torchrun_command(args: argparse.Namespace) -> list[str]:
    """The torchrun command line that starts ``args.nproc`` copies of this `aa run` (without ``--nproc``)."""
    from ._launch import torchrun_command as command

    cmd = command(args.nproc, ["run", args.spec])
    for o in args.overrides:
        cmd += ["--set", o]
    if args.resume:
        cmd += ["--resume", args.resume]
    for key in args.allow_change:
        cmd += ["--allow-change", key]
    if args.force:
        cmd.append("--force")
    return cmd


def main(args: argparse.Namespace) -> int:
    from .._errors import UserError
    from ..spec import load_spec
    from ..tasks import run_spec

    if args.nproc < 1:
        raise UserError(f"--nproc {args.nproc}: give a number of processes of at least 1")
    if args.nproc > 1 and "WORLD_SIZE" not in os.environ:
        spec = load_spec(args.spec, list(args.overrides))  # a bad spec is reported once, here, not by every process
        if "train" not in spec.sections["run"].tasks:
            raise UserError(f"--nproc {args.nproc} runs training on several processes, but run.tasks = {spec.sections['run'].tasks} "
                            "has no train task; drop --nproc (the other tasks run in one process)")
        from ._launch import launch

        return launch(torchrun_command(args))  # SIGINT/SIGTERM reach the ranks, which save; nothing outlives this process
    overrides = list(args.overrides)
    if args.resume:
        overrides.append(f"run.resume={json.dumps(args.resume)}")
    if args.allow_change:
        overrides.append(f"run.allow_change={json.dumps(args.allow_change)}")
    if args.force:
        overrides.append("run.force=true")
    return run_spec(load_spec(args.spec, overrides))
