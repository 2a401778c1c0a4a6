"""`aa sweep SPEC`: a grid or search over --set keys × seeds, each trial a normal `aa run`."""
from __future__ import annotations

import argparse
import hashlib
from pathlib import Path
from typing import Any


def add_parser(sub: Any) -> argparse.ArgumentParser:
    p = sub.add_parser("sweep", help="grid or search over --set keys × seeds (Optuna storage; resumable; several workers per study)",
                       description="Each trial is a normal `aa run SPEC --set ...` in its own process and folder (checkpoint and "
                                   "report). Finished trials are kept in the study's storage and never run again: rerunning the "
                                   "same command resumes, and workers on other machines can share a study through a database URL.")
    p.add_argument("spec")
    p.add_argument("--param", action="append", default=[], metavar="KEY=V1|V2",
                   help="values of a spec key (grid), or LO..HI / log:LO..HI (search); repeatable")
    p.add_argument("--case", action="append", default=[], metavar="'LABEL: KEY=V; KEY=V'",
                   help="a named bundle of overrides varied together (e.g. a lattice size with the channels that keep parameters equal)")
    p.add_argument("--seeds", type=int, default=5, help="seeds 0…N−1 per configuration (default 5)")
    p.add_argument("--seed-key", default="train.seed", help="the spec key the seed goes to (default train.seed)")
    p.add_argument("--set", dest="fixed", action="append", default=[], metavar="KEY=VALUE", help="an override for every trial")
    p.add_argument("--search", choices=["grid", "tpe", "random"], default="grid")
    p.add_argument("--trials", type=int, default=20, help="search: number of configurations (each run with every seed)")
    p.add_argument("--split", choices=["validation", "test"], default="validation",
                   help="the split reports use (default validation: choose there; read test once at the end)")
    p.add_argument("--reference", default="mlp_same_params", help="the report system the model is paired against (default mlp_same_params)")
    p.add_argument("--objective", default="cosine", help="the model metric Optuna maximises (default cosine)")
    p.add_argument("--workers", type=int, default=1, help="trials run at once by this process")
    p.add_argument("--out", default=None, metavar="DIR", help="sweep folder (default sweeps/<spec>-<hash of the sweep>)")
    p.add_argument("--storage", default=None, metavar="URL", help="Optuna storage URL (default sqlite:///DIR/study.db)")
    p.add_argument("--study", default=None, help="study name (default: from the spec and the sweep's definition)")
    p.add_argument("--timeout", type=float, default=None, metavar="S", help="seconds after which a trial is stopped and counted failed")
    p.add_argument("--no-plot", action="store_true")
    p.add_argument("--table-only", action="store_true", help="write the table from the finished trials, run nothing")
    return p


def fixed_overrides(user: list[str], split: str) -> list[str]:
    """The overrides of every trial: the sweep's defaults, then the user's ``--set`` (which win, e.g.
    ``run.tasks=["evaluate"]`` with ``run.resume``), then ``--split`` (which nothing overrides)."""
    return ['run.tasks=["train", "evaluate"]', "evaluate.plot=false", "train.threads=1", *user, f'evaluate.split="{split}"']


def main(args: argparse.Namespace) -> int:
    from aa_core.plugin import UserError
    from aa_core.spec import load_spec

    from . import results
    from . import sweep as S
    from .space import parse

    space = parse(args.param, args.case, args.seeds, args.seed_key)
    if args.workers < 1 or args.trials < 1:
        raise UserError("--workers and --trials must be at least 1")
    fixed = fixed_overrides(args.fixed, args.split)
    # validate the spec and every configuration now (exit 2 before anything runs)
    probe = space.grid() if args.search == "grid" else [{"seed": str(space.seeds[0])}]
    for point in {S.point_key(S.config_of(p)): p for p in probe}.values():
        load_spec(args.spec, [*fixed, *space.overrides(point)])
    definition = hashlib.sha256(f"{Path(args.spec).resolve()}|{args.search}|{args.trials}|{args.split}|{sorted(fixed)}|{space.fingerprint()}".encode()).hexdigest()[:8]
    name = args.study or f"{Path(args.spec).stem}-{definition}"
    folder = Path(args.out or Path("sweeps") / name)
    storage = args.storage or f"sqlite:///{(folder / 'study.db').resolve()}"
    folder.mkdir(parents=True, exist_ok=True)
    total = len(space.grid()) if args.search == "grid" else args.trials
    print(f"sweep {name}: {total} {'trials' if args.search == 'grid' else 'configurations × ' + str(len(space.seeds)) + ' seeds'}; "
          f"storage {storage}; folder {folder}", flush=True)
    sw = S.Sweep(args.spec, space, storage, name, folder, fixed, args.objective, args.search, args.trials, args.timeout)
    study = S.open_study(sw) if args.table_only else S.run(sw, args.workers, report=lambda line: print(line, flush=True))
    rows = results.summarise(study, args.reference)
    if not rows:
        print("no finished trials yet", flush=True)
        return 1
    paths = results.write(rows, args.reference, folder, plot=not args.no_plot)
    print(results.text_table(rows, args.reference), flush=True)
    left = total - (len(S.finished_keys(study)) if args.search == "grid" else len(rows))
    if left > 0:
        print(f"{left} trials not finished here (running in another worker, or failed: rerun the same command to resume)", flush=True)
    print("results: " + ", ".join(str(p) for p in paths.values()), flush=True)
    return 0
