"""`aa sweep SPEC`: a grid or search over --set keys × seeds, each trial a normal `aa run`."""
from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import signal
import threading
from collections.abc import Iterator
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
    p.add_argument("--objective", default=None, metavar="KEY[:max|min]",
                   help="the metric Optuna optimises: any key of the runs' metrics.json (val_accuracy, val_loss, …) or of the "
                        "model's row in their report (cosine, mrr, …), with a direction (default: the spec's train.select_on "
                        "and train.mode; without a direction, min for names ending in loss or error, else max)")
    p.add_argument("--workers", type=int, default=1, help="trials run at once by this process")
    p.add_argument("--out", default=None, metavar="DIR", help="sweep folder (default sweeps/<spec>-<hash of the sweep>)")
    p.add_argument("--storage", default=None, metavar="URL", help="Optuna storage URL (default sqlite:///DIR/study.db)")
    p.add_argument("--study", default=None, help="study name (default: from the spec and the sweep's definition)")
    p.add_argument("--timeout", type=float, default=None, metavar="S", help="seconds after which a trial is stopped and counted failed")
    p.add_argument("--no-plot", action="store_true")
    p.add_argument("--table-only", action="store_true", help="write the table from the finished trials, run nothing")
    return p


def fixed_overrides(user: list[str], split: str, evaluate: bool = True) -> list[str]:
    """The overrides of every trial: the sweep's defaults, then the user's ``--set`` (which win, e.g.
    ``run.tasks=["evaluate"]`` with ``run.resume``), then ``--split`` (which nothing overrides).
    ``evaluate``: the spec's report comes from an ``evaluate`` task (aa-qa's), run after training on ``split``;
    otherwise the trial runs the spec's own tasks, ``train`` first, and the sweep reads its metrics.json."""
    if not evaluate:
        return ["train.threads=1", *user]
    return ['run.tasks=["train", "evaluate"]', "evaluate.plot=false", "train.threads=1", *user, f'evaluate.split="{split}"']


def uses_evaluate(spec_path: str, user: list[str]) -> bool:
    """Whether a spec's report comes from the ``evaluate`` task: its [run] tasks name it or it has an [evaluate] table."""
    import tomllib

    from aa_core.spec import load_spec

    try:
        with open(spec_path, "rb") as f:
            tables = tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError):
        tables = {}
    return "evaluate" in tables or "evaluate" in load_spec(spec_path, user).sections["run"].tasks


def trial_tasks(spec_path: str, user: list[str]) -> list[str]:
    """``run.tasks`` with ``train`` first when the spec's own tasks do not train (a trial always trains)."""
    from aa_core.spec import load_spec

    tasks = load_spec(spec_path, user).sections["run"].tasks
    return [] if "train" in tasks else [f"run.tasks={json.dumps(['train', *[t for t in tasks if t != 'check']])}"]


@contextlib.contextmanager
def _sigterm_stops_the_sweep() -> Iterator[None]:
    """SIGTERM raises RunInterrupted (exit 143) in the main thread, so the sweep's ``finally`` kills
    the running trials instead of the process vanishing and leaving them behind."""
    from aa_core.plugin import RunInterrupted

    def stop(signum: int, _frame: Any) -> None:
        raise RunInterrupted("stopped by SIGTERM; the running trials were stopped with it. Rerun the same command "
                             "to resume (finished trials are kept)", 143)

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def main(args: argparse.Namespace) -> int:
    from aa_core.plugin import UserError
    from aa_core.spec import load_spec

    from . import results
    from . import sweep as S
    from .space import parse, parse_objective

    space = parse(args.param, args.case, args.seeds, args.seed_key)
    if args.workers < 1 or args.trials < 1:
        raise UserError("--workers and --trials must be at least 1")
    evaluate = uses_evaluate(args.spec, args.fixed)
    if not evaluate and args.split != "validation":
        raise UserError(f"--split {args.split}: {args.spec} has no evaluate task, so its trials write no report to split; "
                        "a sweep reads their metrics.json (validation metrics): leave --split out")
    fixed = fixed_overrides([*([] if evaluate else trial_tasks(args.spec, args.fixed)), *args.fixed], args.split, evaluate)
    objective = parse_objective(args.objective, load_spec(args.spec, fixed).sections["train"])
    if objective.key is None and args.search != "grid":
        raise UserError(f"--search {args.search} needs an objective: {args.spec} sets no train.select_on; give --objective KEY[:max|min]")
    # validate the spec and every configuration now (exit 2 before anything runs)
    probe = space.grid() if args.search == "grid" else [{"seed": str(space.seeds[0])}]
    for point in {S.point_key(S.config_of(p)): p for p in probe}.values():
        load_spec(args.spec, [*fixed, *space.overrides(point)])
    definition = hashlib.sha256(f"{Path(args.spec).resolve()}|{args.search}|{args.trials}|{args.split}|{sorted(fixed)}|{space.fingerprint()}{'|minimize' if objective.direction == 'minimize' else ''}".encode()).hexdigest()[:8]
    name = args.study or f"{Path(args.spec).stem}-{definition}"
    folder = Path(args.out or Path("sweeps") / name)
    storage = args.storage or f"sqlite:///{(folder / 'study.db').resolve()}"
    folder.mkdir(parents=True, exist_ok=True)
    total = len(space.grid()) if args.search == "grid" else args.trials
    print(f"sweep {name}: {total} {'trials' if args.search == 'grid' else 'configurations × ' + str(len(space.seeds)) + ' seeds'}; "
          f"storage {storage}; folder {folder}", flush=True)
    sw = S.Sweep(args.spec, space, storage, name, folder, fixed, objective.key, args.search, args.trials, args.timeout,
                 direction=objective.direction)
    with _sigterm_stops_the_sweep():
        study = S.open_study(sw) if args.table_only else S.run(sw, args.workers, report=lambda line: print(line, flush=True))
    rows = results.summarise(study, args.reference, objective.key)
    if not rows:
        print("no finished trials yet", flush=True)
        return 1
    paths = results.write(rows, args.reference, folder, plot=not args.no_plot, objective=objective.key)
    print(results.text_table(rows, args.reference), flush=True)
    left = total - (len(S.finished_keys(study)) if args.search == "grid" else len(rows))
    if left > 0:
        print(f"{left} trials not finished here (running in another worker, or failed: rerun the same command to resume)", flush=True)
    print("results: " + ", ".join(str(p) for p in paths.values()), flush=True)
    return 0
