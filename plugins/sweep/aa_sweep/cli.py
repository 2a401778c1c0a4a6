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
    p.add_argument("spec", nargs="?", help="the spec every trial runs (omit with --render)")
    p.add_argument("--param", action="append", default=[], metavar="KEY=V1|V2",
                   help="values of a spec key (grid), or LO..HI / log:LO..HI (search); repeatable")
    p.add_argument("--case", action="append", default=[], metavar="'LABEL: KEY=V; KEY=V'",
                   help="a named bundle of overrides varied together (e.g. a lattice size with the channels that keep parameters equal)")
    p.add_argument("--seeds", default="5", metavar="N|S1,S2,…", help="seeds 0…N−1 per configuration (default 5), or a list: 0,1,2")
    p.add_argument("--seed-key", default="train.seed", help="the spec key the seed goes to (default train.seed)")
    p.add_argument("--set", dest="fixed", action="append", default=[], metavar="KEY=VALUE", help="an override for every trial")
    p.add_argument("--search", choices=["grid", "tpe", "random"], default="grid")
    p.add_argument("--trials", type=int, default=20, help="search: number of configurations (each run with every seed)")
    p.add_argument("--split", choices=["validation", "test"], default="validation",
                   help="the split reports use (default validation: choose there; read test once at the end)")
    p.add_argument("--reference", default=None, metavar="SPEC|SYSTEM",
                   help="a spec whose model is the study's reference row: trained and tested with the same seeds, every other "
                        "row paired against it seed by seed; for a Q→A sweep with an evaluate report, the report system the "
                        "model is paired against (default mlp_same_params)")
    p.add_argument("--reference-set", dest="reference_fixed", action="append", default=[], metavar="KEY=VALUE",
                   help="an override for the reference spec's trials")
    p.add_argument("--reference-label", default="reference", metavar="LABEL", help="the reference row's name in the table (default reference)")
    p.add_argument("--match-params", dest="match", default=None, metavar="KEY",
                   help="scale this width key (an integer or a list of integers, e.g. cell.hidden) in every configuration until "
                        "its model has the budget's parameter count within ±10 %%")
    p.add_argument("--budget", default=None, metavar="N|SPEC",
                   help="the parameter budget of --match-params: a count or a spec (default: the --reference spec's model, "
                        "else the sweep spec's own)")
    p.add_argument("--metric", default=None, help="the test metric of the study table (default: the test twin of the selected "
                                                   "validation metric, e.g. test_accuracy)")
    p.add_argument("--note", default="", help="a note for the table's rows")
    p.add_argument("--into", default=None, metavar="CSV", help="also merge the rows into this results CSV (rows with the same "
                                                               "task, configuration and settings are replaced), e.g. docs/tasks/results.csv")
    p.add_argument("--render", default=None, metavar="CSV", help="print the Markdown table of a results CSV and exit")
    p.add_argument("--objective", default=None, metavar="KEY[:max|min]",
                   help="the metric Optuna optimises, a validation metric: any val_ key of the runs' metrics.json "
                        "(val_accuracy, val_loss, …) or of the model's row in a Q→A report (cosine, mrr, …), with a direction "
                        "(default: the spec's train.select_on and train.mode; without a direction, min for names ending in "
                        "loss or error, else max). Test metrics are refused: the test split is read once per trial, after selection")
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

    from aa_core.run import load_spec

    try:
        with open(spec_path, "rb") as f:
            tables = tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError):
        tables = {}
    return "evaluate" in tables or "evaluate" in load_spec(spec_path, user).sections["run"].tasks


def trial_tasks(spec_path: str, user: list[str]) -> list[str]:
    """``run.tasks`` of a study trial: ``train``, then ``test`` (the test split read once, after selection),
    then the spec's other tasks."""
    from aa_core.run import load_spec

    tasks = load_spec(spec_path, user).sections["run"].tasks
    rest = [t for t in tasks if t not in ("check", "train", "test")]
    want = ["train", "test", *rest]
    return [] if tasks == want else [f"run.tasks={json.dumps(want)}"]


@contextlib.contextmanager
def _sigterm_stops_the_sweep() -> Iterator[None]:
    """SIGINT and SIGTERM raise RunInterrupted (exit 130 / 143) in the main thread, so the sweep's ``finally``
    stops the running trials (SIGINT: each saves at its step) instead of the process vanishing and
    leaving them behind; no queued trial starts after it."""
    from aa_core.plugin import RunInterrupted

    def stop(signum: int, _frame: Any) -> None:
        name, code = ("SIGINT", 130) if signum == signal.SIGINT else ("SIGTERM", 143)
        raise RunInterrupted(f"stopped by {name}; the running trials were stopped with it (each saved at its step). Rerun the "
                             "same command to resume: finished trials are kept, interrupted ones continue where they stopped", code)

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)


def check_objective(text: str | None, spec_path: str, fixed: list[str], study: bool) -> None:
    """``--objective`` names a validation metric (never a test one) that the spec's objective reports: exit 2 otherwise,
    before any trial runs."""
    from aa_core.plugin import UserError

    key = (text or "").partition(":")[0].strip()
    if not key:
        return
    if key.startswith("test_") or key == "test":
        raise UserError(f"--objective {key}: a sweep selects on validation metrics only (val_…); test figures are read once per "
                        "trial, after selection, and reported beside the selection — never optimised. Use the validation twin, "
                        f"e.g. --objective val_{key.removeprefix('test_')}")
    if not study:
        return  # a Q→A report's own metric names (cosine, mrr, …) are checked when the first trial reports them
    from aa_core.protocols import Objective
    from aa_core.run import BuildContext, load_spec

    spec = load_spec(spec_path, fixed)
    objective = BuildContext(spec).build("objective") if "objective" in spec.components else None
    if isinstance(objective, Objective) and objective.metrics and key not in objective.metrics:
        raise UserError(f"--objective {key}: {spec_path}'s objective does not report it; it reports {', '.join(objective.metrics)}")


def _reference(args: argparse.Namespace, study: bool) -> str | None:
    """The reference spec (``--reference SPEC``), validated now; None for a report system or none."""
    from aa_core.plugin import UserError
    from aa_core.run import load_spec

    ref = args.reference
    if ref is None or not (ref.endswith(".toml") or Path(ref).is_file()):
        return None
    if not study:
        raise UserError(f"--reference {ref}: a reference spec needs trials that train and test; {args.spec} reports through an "
                        "evaluate task: name one of its report's systems instead (e.g. --reference mlp_same_params)")
    load_spec(ref, [*trial_tasks(ref, args.reference_fixed), *args.reference_fixed])  # exit 2 now on a bad reference
    return ref


def _budget(args: argparse.Namespace, reference: str | None, ref_fixed: list[str], fixed: list[str]) -> int:
    from aa_core.plugin import UserError

    from .budget import params_of

    if args.budget is None:
        return params_of(reference, ref_fixed) if reference else params_of(args.spec, fixed)
    if args.budget.isdigit():
        return int(args.budget)
    if not Path(args.budget).is_file():
        raise UserError(f"--budget {args.budget}: give a parameter count (e.g. 12800) or a spec file whose model sets it")
    return params_of(args.spec if args.budget == args.spec else args.budget, [])


def _info(spec_path: str, overrides: list[str], budget: int | None) -> dict:
    """What the study table says of a configuration: task, model, plugin, version, parameters, budget."""
    from aa_core.run import build_model, count_params, load_spec

    spec = load_spec(spec_path, overrides)
    model, ctx = build_model(spec, meta=True)
    uses_cell = "cell" in ctx.built  # a lattice model (a flat_mlp baseline builds no cell)
    reg = spec.components["cell" if uses_cell else "pipeline"][0] if ("cell" if uses_cell else "pipeline") in spec.components else None
    pipe = spec.components.get("pipeline")
    return {"task": spec.components["dataset"][0].component.name if "dataset" in spec.components else "",
            "pipeline": pipe[0].component.name if pipe else "", "cell": spec.components["cell"][0].component.name if uses_cell else "",
            "plugin": reg.plugin.distribution if reg else "", "version": reg.plugin.version if reg else "",
            "params": int(count_params(model)), "budget": budget or ""}


def render(path: str) -> int:
    from aa_core.plugin import UserError

    from . import study as ST

    if not Path(path).is_file():
        raise UserError(f"--render {path}: no such file (a results.csv written by aa sweep)")
    print(ST.markdown(ST.read(Path(path))), end="")
    return 0


def main(args: argparse.Namespace) -> int:
    from aa_core.plugin import UserError
    from aa_core.run import load_spec

    from . import results
    from . import sweep as S
    from .space import REFERENCE, label, parse, parse_objective

    if args.render:
        return render(args.render)
    if not args.spec:
        raise UserError("aa sweep: name the spec every trial runs (aa sweep SPEC …), or give --render CSV")
    evaluate = uses_evaluate(args.spec, args.fixed)
    study = not evaluate
    reference = _reference(args, study)
    space = parse(args.param, args.case, args.seeds, args.seed_key, reference=reference is not None)
    if args.workers < 1 or args.trials < 1:
        raise UserError("--workers and --trials must be at least 1")
    if not evaluate and args.split != "validation":
        raise UserError(f"--split {args.split}: {args.spec} has no evaluate task, so its trials write no report to split; "
                        "a sweep reads their metrics.json (validation metrics, then the test step's): leave --split out")
    fixed = fixed_overrides([*([] if evaluate else trial_tasks(args.spec, args.fixed)), *args.fixed], args.split, evaluate)
    ref_fixed = fixed_overrides([*trial_tasks(reference, args.reference_fixed), *args.reference_fixed], "validation", False) if reference else []
    check_objective(args.objective, args.spec, fixed, study)
    objective = parse_objective(args.objective, load_spec(args.spec, fixed).sections["train"])
    if objective.key is None and args.search != "grid":
        raise UserError(f"--search {args.search} needs an objective: {args.spec} sets no train.select_on; give --objective KEY[:max|min]")
    if args.match and args.search != "grid":
        raise UserError("--match-params sizes each configuration of a grid; it cannot size a search's configurations")
    budget = _budget(args, reference, ref_fixed, fixed) if (args.match or study) else None
    if args.match:
        from .budget import match

        matched: dict[str, tuple[str, ...]] = {}
        for config in space.configs():
            if config.get("case") == REFERENCE:
                continue
            override, n = match(args.spec, [*fixed, *space.config_overrides(config)], args.match, int(budget or 0))
            matched[label(config)] = (override,)
            print(f"{label(config)}: {override} → {n:,} parameters ({100 * (n / int(budget or 1) - 1):+.1f} % of the {budget:,} budget)", flush=True)
        space = type(space)(space.params, space.cases, space.seeds, space.seed_key, space.reference, matched)
    # validate the spec and every configuration now (exit 2 before anything runs)
    probe = space.grid() if args.search == "grid" else [{"seed": str(space.seeds[0])}]
    sw_probe = S.Sweep(args.spec, space, "", "", Path("."), fixed, reference_spec=reference, reference_fixed=ref_fixed)
    for point in {S.point_key(S.config_of(p)): p for p in probe}.values():
        spec_path, spec_fixed = sw_probe.spec_of(point)
        load_spec(spec_path, [*spec_fixed, *space.overrides(point)])
    extra = f"|ref={Path(reference).resolve()}|{sorted(ref_fixed)}" if reference else ""
    definition = hashlib.sha256(f"{Path(args.spec).resolve()}|{args.search}|{args.trials}|{args.split}|{sorted(fixed)}|{space.fingerprint()}{'|minimize' if objective.direction == 'minimize' else ''}{extra}".encode()).hexdigest()[:8]
    name = args.study or f"{Path(args.spec).stem}-{definition}"
    folder = Path(args.out or Path("sweeps") / name)
    storage = args.storage or f"sqlite:///{(folder / 'study.db').resolve()}"
    folder.mkdir(parents=True, exist_ok=True)
    total = len(space.grid()) if args.search == "grid" else args.trials
    print(f"sweep {name}: {total} {'trials' if args.search == 'grid' else 'configurations × ' + str(len(space.seeds)) + ' seeds'}; "
          f"storage {storage}; folder {folder}", flush=True)
    sw = S.Sweep(args.spec, space, storage, name, folder, fixed, objective.key, args.search, args.trials, args.timeout,
                 direction=objective.direction, reference_spec=reference, reference_fixed=ref_fixed)
    with _sigterm_stops_the_sweep():
        swept = S.open_study(sw) if args.table_only else S.run(sw, args.workers, report=lambda line: print(line, flush=True))
    left = total - (len(S.finished_keys(swept)) if args.search == "grid" else len(results.summarise(swept, "", objective.key)))
    if study and args.search == "grid":
        paths = _study_table(args, sw, swept, budget)
        if paths is None:
            print("no finished trials yet", flush=True)
            return 1
    else:
        rows = results.summarise(swept, args.reference or "mlp_same_params", objective.key)
        if not rows:
            print("no finished trials yet", flush=True)
            return 1
        paths = results.write(rows, args.reference or "mlp_same_params", folder, plot=not args.no_plot, objective=objective.key)
        print(results.text_table(rows, args.reference or "mlp_same_params"), flush=True)
    if left > 0:
        print(f"{left} trials not finished here (running in another worker, or failed: rerun the same command to resume)", flush=True)
    print("results: " + ", ".join(str(p) for p in paths.values()), flush=True)
    return 0


def _study_table(args: argparse.Namespace, sw: Any, swept: Any, budget: int | None) -> dict[str, Path] | None:
    """The study table of a grid whose trials train and test (results.csv, runs.csv, results.md; --into)."""
    import shlex

    from . import results
    from . import study as ST
    from .space import REFERENCE, label

    runs = results.runs_of(swept)
    if not any(r.get("test") for r in runs):
        return None
    info, commands = {}, {}
    seeds = list(sw.space.seeds)
    common = [*(["--metric", args.metric] if args.metric else [])]
    for config in sw.space.configs():
        name = label(config)
        spec, fixed = sw.spec_of(config)
        sets = sw.space.config_overrides(config)
        is_ref = config.get("case") == REFERENCE
        user = args.reference_fixed if is_ref else args.fixed
        own = " ".join(user) if spec == sw.spec else " ".join([f"spec={spec}", *user])  # the reference's settings: its spec and overrides
        info[name] = {**_info(spec, [*fixed, *sets], budget), "settings": own if is_ref else " ".join(sets)}
        commands[name] = ST.command(spec, seeds, [*user, *sets], common)
        for s in seeds:
            commands[f"{name} seed {s}"] = shlex.join(["aa", "run", spec, *[a for o in [*fixed, *sets, f"{sw.space.seed_key}={s}"] for a in ("--set", o)]])
    rows, trials = ST.rows(runs, info, commands, args.metric, args.note, args.reference_label)
    paths = ST.write(rows, trials, sw.folder)
    if args.into:
        ST.upsert(Path(args.into), rows)
        paths["into"] = Path(args.into)
    print(ST.markdown(rows), end="", flush=True)
    return paths
