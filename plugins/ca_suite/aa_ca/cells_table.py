"""The cells table: every installed cell on a task at one parameter budget, one CSV row per cell.

``python -m aa_ca.cells_table --cell NAME [--spec SPEC] [--set cell.k=v ...] --seeds 0,1,2`` replaces the spec's
``[cell]`` table with ``{name = NAME}`` plus the ``cell.*`` settings given (other ``--set`` keys, e.g.
``train.steps``, apply as they are), trains each seed with :func:`aa_ca.report_study.run_seed`
(selection on the spec's validation metric, one read of the test split) and writes or replaces the
row of that (task, cell, settings) in the CSV, atomically; ``--jobs N`` trains N seeds at once in separate
processes (same results as one after another); ``--state-dir DIR`` keeps each seed's training state so
that rerunning the command resumes an interrupted row. The parameter budget of a task is its spec's own
model (rounded to 100); the score is the task's headline test metric (``test_accuracy``, or the first
one its ``test_metrics`` reports, e.g. ``test_cell_accuracy``; ``--metric`` picks another). ``--not-run REASON`` records a cell that
cannot run on the task without training; ``--markdown`` prints the docs table from the CSV, each row
paired by seed against the core ``mlp`` row trained with the same ``[train]`` settings.
"""
from __future__ import annotations

import argparse
import csv
import io
import math
import os
import re
import shlex
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

DEFAULT_SPEC = "examples/ca/mnist1d.toml"
DEFAULT_CSV = "docs/tasks/results.csv"
METRIC = "test_accuracy"  # the headline metric where a task reports it (rows without a metric column hold it)
COLUMNS = ["task", "cell", "plugin", "version", "params", "budget_delta_pct", "settings", "seeds",
           "val_accuracy_mean", "test_accuracy_mean", "test_ci_lo", "test_ci_hi", "test_accuracy_per_seed",
           "cpu_s_per_seed", "note", "command", "metric", "budget"]


def overrides_for(cell: str, sets: list[str]) -> list[str]:
    """The spec overrides of a row: the ``[cell]`` table replaced by ``{name = cell}``, then ``sets``."""
    return [f'cell={{name="{cell}"}}', *sets]


def component_info(spec_path: str, overrides: list[str]) -> dict[str, Any]:
    """Task (dataset name), the cell's distribution and version, the model's parameter count and the
    task's budget: the parameter count of the spec's own model, rounded to 100."""
    import torch

    from aa_core.assemble import build_model, count_params
    from aa_core.spec import load_spec

    spec = load_spec(spec_path, overrides)
    cell = spec.components["cell"][0]
    plugin, version = cell.plugin.distribution, cell.plugin.version
    prop = spec.components.get("propagator")
    if any(o.startswith("propagator") for o in overrides) and prop and prop[0].plugin.distribution != plugin:
        plugin, version = f"{plugin} + {prop[0].plugin.distribution}", f"{version} + {prop[0].plugin.version}"
    torch.manual_seed(0)
    model, _ = build_model(spec)
    own, _ = build_model(load_spec(spec_path, []))
    return {"task": spec.components["dataset"][0].component.name, "plugin": plugin, "version": version,
            "params": count_params(model), "budget": int(round(count_params(own), -2))}


def headline_metric(test: dict[str, Any]) -> str:
    """``test_accuracy`` where the task reports it, else the first number its ``test_metrics`` gives."""
    if METRIC in test:
        return METRIC
    for k, v in test.items():
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return k
    raise ValueError(f"the task's test_metrics report no number: {sorted(test)}")


def command_of(cell: str, sets: list[str], seeds: list[int], spec: str, note: str | None, not_run: str | None,
               metric: str | None = None) -> str:
    parts = ["python", "-m", "aa_ca.cells_table", "--cell", cell]
    if spec != DEFAULT_SPEC:
        parts += ["--spec", spec]
    if metric:
        parts += ["--metric", metric]
    for s in sets:
        parts += ["--set", s]
    if not_run is not None:
        parts += ["--not-run", not_run]
    else:
        parts += ["--seeds", ",".join(map(str, seeds)), "--threads", "1"]
    if note:
        parts += ["--note", note]
    return shlex.join(parts)


def _f(x: float, digits: int = 4) -> str:
    return "" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def make_row(cell: str, sets: list[str], seeds: list[int], spec: str, results: list[dict[str, Any]],
             info: dict[str, Any], note: str | None = None, not_run: str | None = None,
             metric: str | None = None) -> dict[str, str]:
    """One CSV row from the seeds' :func:`run_seed` results (empty when ``not_run``); its ``test_accuracy_*``
    columns hold ``metric`` (default: the task's :func:`headline_metric`)."""
    from aa_core.stats import t_interval

    row = {k: "" for k in COLUMNS}
    row.update(task=info.get("task", ""), cell=cell, plugin=info.get("plugin", ""), version=info.get("version", ""),
               settings=" ".join(sets), note=(f"not run: {not_run}" if not_run is not None else (note or "")),
               command=command_of(cell, sets, seeds, spec, note, not_run, metric))
    if info.get("params"):
        row["params"], row["budget"] = str(info["params"]), str(info["budget"])
        row["budget_delta_pct"] = f"{100 * (info['params'] / info['budget'] - 1):+.1f}"
    if results:
        row["metric"] = metric or headline_metric(results[0]["test"])
        test = [float(r["test"][row["metric"]]) for r in results]
        val = [_val(r, row["metric"]) for r in results]
        m, lo, hi = t_interval(test)
        row.update(seeds=",".join(str(r["seed"]) for r in results), val_accuracy_mean=_f(sum(val) / len(val)),
                   test_accuracy_mean=_f(m), test_ci_lo=_f(lo), test_ci_hi=_f(hi),
                   test_accuracy_per_seed=";".join(_f(t) for t in test),
                   cpu_s_per_seed=f"{sum(float(r['cpu_s']) for r in results) / len(results):.1f}")
    return row


def _val(result: dict[str, Any], metric: str = METRIC) -> float:
    """The selected checkpoint's validation figure for ``metric`` (its ``val_`` twin, else ``val_accuracy``;
    ``best`` is the fit's record of that evaluation)."""
    best = result["best"]
    if not isinstance(best, dict):
        return float(best)
    twin = "val_" + metric.removeprefix("test_")
    value = best[twin] if twin in best else best.get("val_accuracy", math.nan)
    return float(value)


def read_rows(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        return []
    with open(path, newline="") as f:
        return [{k: (r.get(k) or "") for k in COLUMNS} for r in csv.DictReader(f)]


def upsert(path: Path, row: dict[str, str]) -> list[dict[str, str]]:
    """Replace the row with the same (task, cell, settings), else append; written atomically."""
    from aa_core.plugin import write_text

    rows = read_rows(path)
    key = (row["task"], row["cell"], row["settings"])
    at = [i for i, r in enumerate(rows) if (r["task"], r["cell"], r["settings"]) == key]
    if at:
        rows[at[0]] = row
        rows = [r for i, r in enumerate(rows) if i not in at[1:]]
    else:
        rows.append(row)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text(path, buf.getvalue())
    return rows


PROPAGATOR_KEYS = ("propagator.", "propagator=")
MODEL_KEYS = ("cell.", "cell=", *PROPAGATOR_KEYS)


def _train_sets(settings: str) -> str:
    """The row's settings other than the model's (``cell.*``, ``propagator``): rows with equal ones are paired."""
    return " ".join(s for s in shlex.split(settings) if not s.startswith(MODEL_KEYS))


def _lines(row: dict[str, str]) -> list[dict[str, Any]]:
    seeds = [int(s) for s in row["seeds"].split(",") if s]
    values = [float(v) for v in row["test_accuracy_per_seed"].split(";") if v]
    return [{"label": f"{row['cell']} {row['settings']}", "seed": s, "test": {METRIC: v}} for s, v in zip(seeds, values)]


def is_reference(row: dict[str, str]) -> bool:
    """The core mlp cell with the spec's own propagator: what the other rows are paired against."""
    return row["cell"] == "mlp" and not any(s.startswith(PROPAGATOR_KEYS) for s in shlex.split(row["settings"]))


def paired_vs_mlp(row: dict[str, str], rows: list[dict[str, str]]) -> dict[str, Any] | None:
    """``row`` − the core mlp row of the same task and ``[train]`` settings, paired by seed (None: no such pair)."""
    from .report_study import paired_by_seed

    refs = [r for r in rows if is_reference(r) and r["task"] == row["task"] and r["test_accuracy_per_seed"]
            and _train_sets(r["settings"]) == _train_sets(row["settings"]) and r is not row]
    if not refs or not row["test_accuracy_per_seed"]:
        return None
    lines = _lines(row) + _lines(refs[0])
    return paired_by_seed(lines, lines[0]["label"], f"mlp {refs[0]['settings']}", METRIC)


def _cell_label(row: dict[str, str]) -> str:
    """The cell's name, plus the propagator's when the row's settings replace it."""
    prop = re.search(r'propagator=\{name="([^"]+)"', row["settings"])
    return f"{row['cell']} + {prop.group(1)} propagator" if prop else row["cell"]


def _pct(row: dict[str, str], key: str) -> str:
    return f"{100 * float(row[key]):.1f}" if row[key] else "–"


def markdown(rows: list[dict[str, str]]) -> str:
    """The docs table: test accuracy with its 95 % t interval, and the paired difference to the core mlp.

    Rows run in the spec's ``[train]`` settings first, each group led by its mlp reference; rows not run last."""
    head = ["| task (metric) | cell | plugin | params (Δ budget) | seeds | val (%) | test (%) [95 % t] |"
            " − mlp, paired by seed (points) [95 % t] | CPU s / seed | note |",
            "|---|---|---|---|---|---|---|---|---|---|"]
    out, cmds = list(head), []
    metric_of = {r["task"]: r["metric"] for r in rows if r["metric"]}  # a task's metric, for its rows not run
    order = sorted(rows, key=lambda r: (r["task"], not r["test_accuracy_mean"], _train_sets(r["settings"]), not is_reference(r), r["cell"]))
    for i, r in enumerate(order, 1):
        test = f"{_pct(r, 'test_accuracy_mean')} [{_pct(r, 'test_ci_lo')}, {_pct(r, 'test_ci_hi')}]" if r["test_accuracy_mean"] else "not run"
        p = paired_vs_mlp(r, rows)
        diff = (f"{100 * p['mean']:+.1f} [{100 * p['lo']:+.1f}, {100 * p['hi']:+.1f}] {p['verdict']}" if p
                else ("reference" if is_reference(r) and r["test_accuracy_mean"] else "–"))
        params = f"{int(r['params']):,} ({r['budget_delta_pct']} %)" if r["params"] else "–"
        n = len([s for s in r["seeds"].split(",") if s])
        metric = r["metric"] or metric_of.get(r["task"], METRIC)
        task = r["task"] + (f" ({metric.removeprefix('test_').replace('_', ' ')})" if metric != METRIC else "")
        out.append(f"| {task} | [{i}] {_cell_label(r)} | {r['plugin']} {r['version']} | {params} | {n or '–'} | "
                   f"{_pct(r, 'val_accuracy_mean')} | {test} | {diff} | {r['cpu_s_per_seed'] or '–'} | {r['note'] or ''} |")
        cmds.append(f"{i}. `{r['command']}`")
    return "\n".join(out + ["", "Commands (one per row):", "", *cmds]) + "\n"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cell", help="the cell component to run (its [cell] table = {name = CELL} + the cell.* --set keys)")
    ap.add_argument("--spec", default=DEFAULT_SPEC)
    ap.add_argument("--set", action="append", default=[], dest="sets", metavar="KEY=VALUE")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--csv", default=DEFAULT_CSV)
    ap.add_argument("--threads", type=int, default=1, help="torch threads per seed (default 1)")
    ap.add_argument("--jobs", type=int, default=1,
                    help="seeds trained at once, each in its own process with --threads threads (default 1); "
                         "the results equal a sequential run's")
    ap.add_argument("--state-dir", dest="state_dir", metavar="DIR",
                    help="keep each seed's training state under DIR (saved every evaluation round): rerunning the "
                         "same command resumes an interrupted seed and reuses a finished one")
    ap.add_argument("--note", help="a note for the row (e.g. why its [train] settings differ)")
    ap.add_argument("--not-run", dest="not_run", metavar="REASON", help="record the cell's row as not run, with the reason")
    ap.add_argument("--metric", help="the test metric of the row (default: test_accuracy, or the task's first)")
    ap.add_argument("--markdown", action="store_true", help="print the docs table from the CSV and exit")
    args = ap.parse_args(argv)
    from aa_core.plugin import RunInterrupted, UserError

    try:
        if args.markdown:
            print(markdown(read_rows(Path(args.csv))), end="")
            return
        if not args.cell:
            raise UserError("--cell NAME is required (or --markdown): name an installed cell, e.g. --cell gmlp; `aa plugins` lists them")
        try:
            seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
        except ValueError:
            raise UserError(f"--seeds {args.seeds!r}: expected comma-separated integers, e.g. --seeds 0,1,2") from None
        if not seeds:
            raise UserError("--seeds: give at least one seed, e.g. --seeds 0,1,2")
        overrides = overrides_for(args.cell, args.sets)
        if args.not_run is not None:
            try:
                info = component_info(args.spec, overrides)
            except UserError:
                info = {"task": _task_name(args.spec)}
            row = make_row(args.cell, args.sets, seeds, args.spec, [], info, args.note, args.not_run)
        else:
            if args.jobs < 1 or args.threads < 1:
                raise UserError(f"--jobs {args.jobs} --threads {args.threads}: both must be at least 1, e.g. --jobs 2 --threads 1")
            info = component_info(args.spec, overrides)
            if abs(info["params"] / info["budget"] - 1) > 0.10:
                print(f"warning: {info['params']:,} parameters, outside ±10 % of the task's {info['budget']:,} budget: "
                      f"set the cell's sizes (e.g. --set cell.hidden=...) to land within it", file=sys.stderr)
            results = []
            state = None if args.state_dir is None else state_folder(Path(args.state_dir), args.spec, args.cell, overrides)
            for r in train_seeds(args.spec, overrides, seeds, args.threads, args.jobs, state):
                metric = args.metric or headline_metric(r["test"])
                if metric not in r["test"]:
                    raise UserError(f"--metric {metric}: the task's test_metrics report {', '.join(sorted(r['test']))}")
                print(f"{args.cell} seed {r['seed']}: val {_val(r, metric):.4f} {metric} {r['test'][metric]:.4f} "
                      f"params {r['params']} cpu {r['cpu_s']} s", flush=True)
                results.append(r)
            row = make_row(args.cell, args.sets, seeds, args.spec, results, info, args.note, metric=args.metric)
        upsert(Path(args.csv), row)
        print(f"{args.csv}: row {row['task']}/{row['cell']} written")
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    except (RunInterrupted, KeyboardInterrupt) as exc:
        saved = f"; the seeds' state is in {args.state_dir}: rerun the same command to resume" if args.state_dir else \
            " (with --state-dir DIR a rerun would resume where it stopped)"
        print(f"interrupted{saved}", file=sys.stderr)
        sys.exit(exc.exit_code if isinstance(exc, RunInterrupted) else 130)


_STOP: Any = None  # in a seed worker: the table's stop event, set when the table is interrupted


def _worker_init(parent: int, stop: Any) -> None:
    """Seed worker initializer. The worker dies with the table's process (Linux: a killed run leaves no
    seeds training on) and leaves Ctrl-C to the table: it leaves the terminal's process group and ignores
    SIGINT, which :func:`_stop_workers` passes on once — a training seed's ``fit`` takes it (save, stop);
    an idle worker stays alive (one killed while it reads the pool's queue holds the queue's lock for
    good, and the table hangs)."""
    import signal

    global _STOP
    _STOP = stop
    os.setpgid(0, 0)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if sys.platform.startswith("linux"):
        import ctypes

        try:
            ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL), 0, 0, 0)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent:  # the parent died before the request took effect
        os._exit(1)


def _stop_workers(stop: Any, futures: list[Any], save: bool) -> None:
    """The table was interrupted (or a seed failed): seeds not started yet do not start. With ``save``
    (a state folder) each worker gets one SIGINT — a training seed saves at its step and stops — and
    the started seeds are waited for; without, the workers are killed (nothing to keep)."""
    import multiprocessing
    import signal
    from concurrent.futures import wait

    stop.set()
    for child in multiprocessing.active_children():
        if child.pid is None:  # not started
            continue
        try:
            os.kill(child.pid, signal.SIGINT if save else signal.SIGKILL)
        except ProcessLookupError:  # gone already
            pass
    if save:
        wait([f for f in futures if not f.cancel()])


def state_folder(state_dir: Path, spec: str, cell: str, overrides: list[str]) -> Path:
    """The row's folder under ``--state-dir``: task, cell and a hash of the spec file and the settings."""
    import hashlib

    digest = hashlib.sha256(Path(spec).read_bytes() + "\0".join(overrides).encode()).hexdigest()[:10]
    return state_dir / f"{_task_name(spec) or 'task'}-{cell}-{digest}"


def _seed_job(spec: str, overrides: list[str], seed: int, threads: int, in_worker: bool,
              state: Path | None = None) -> dict[str, Any]:
    import torch

    from aa_core.plugin import RunInterrupted

    from .report_study import run_seed

    if _STOP is not None and _STOP.is_set():  # queued before the table was interrupted
        raise RunInterrupted(f"seed {seed}: not started (the table was interrupted)", 130)
    torch.set_num_threads(threads)
    # one line per evaluation round from each worker: progress bars of processes sharing a terminal overwrite each other
    return run_seed(spec, overrides, seed, progress="lines" if in_worker else True,
                    state_dir=None if state is None else state / f"seed-{seed}")


def train_seeds(spec: str, overrides: list[str], seeds: list[int], threads: int, jobs: int,
                state: Path | None = None) -> Iterator[dict[str, Any]]:
    """Each seed's :func:`run_seed` result, in seed order; ``jobs`` > 1 trains that many at once in
    spawned processes (each prints a line per evaluation round then, not a progress bar)."""
    if jobs == 1 or len(seeds) == 1:
        for seed in seeds:
            yield _seed_job(spec, overrides, seed, threads, False, state)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    workers = min(jobs, len(seeds))
    print(f"training seeds {','.join(map(str, seeds))} in {workers} processes of {threads} thread(s) each; "
          "each prints a line per evaluation round; a seed's result follows when the seeds before it are done",
          flush=True)

    context = multiprocessing.get_context("spawn")
    stop = context.Event()
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_worker_init, initargs=(os.getpid(), stop))
    futures = [pool.submit(_seed_job, spec, overrides, seed, threads, True, state) for seed in seeds]
    finished = False
    try:
        for future in futures:
            yield future.result()
        finished = True
    finally:
        if not finished:  # Ctrl-C, or a seed failed: the others save (with a state folder) and stop
            _stop_workers(stop, futures, save=state is not None)
        pool.shutdown(wait=finished, cancel_futures=True)  # unfinished: workers left die with this process


def _task_name(spec_path: str) -> str:
    import tomllib

    try:
        return str(tomllib.loads(Path(spec_path).read_text())["dataset"]["name"])
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        return ""


if __name__ == "__main__":
    main()
