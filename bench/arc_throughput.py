"""ARC-AGI test-time training throughput: many NCAs as one batched computation vs one task at a time.

A sample of real ARC-AGI-1 training tasks (the first ``--tasks`` same-size tasks by id) is trained
with aa-arc's code (:func:`aa_arc.ttt.predict_group`) at the ``[arc]`` defaults (two attempts per
task, the default NCA), two ways doing the same work: batched (groups of ``group_size`` tasks, the
``aa run`` path) and sequential (the same function on one task at a time). Each way runs
``--steps`` optimiser steps per task (a multiple of ``eval_every``, so checkpoint selection costs its
share); the CPU time per optimiser step is constant, so tasks per CPU-hour at the spec's budget
(``train_steps`` steps) = 3600 / (CPU-s per task per step × train_steps). CPU time is the process's
(every thread). Rounds alternate batched and sequential; the median of ``--repeats`` rounds is kept.

Run: python bench/arc_throughput.py [--tasks 16] [--steps 50] [--repeats 3] [--threads 1]. The last line is one JSON object.
"""
from __future__ import annotations

import argparse
import json
import statistics
import time

import attrs
import torch

from aa_arc.config import ArcConfig
from aa_arc.data import load_split
from aa_arc.ttt import groups, predict_group


def cpu_per_task_step(tasks, config: ArcConfig, group_size: int) -> float:
    t0 = time.process_time()
    for g in groups(tasks, group_size):
        predict_group(g, config)
    return (time.process_time() - t0) / (len(tasks) * config.train_steps)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", type=int, default=16)
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    default = ArcConfig(split="training")
    tasks = [t for t in load_split("arcagi", "training")[0] if t.same_size][: args.tasks]
    config = attrs.evolve(default, train_steps=args.steps)
    batched, sequential = [], []
    for r in range(args.repeats):
        batched.append(cpu_per_task_step(tasks, config, default.group_size))
        sequential.append(cpu_per_task_step(tasks, config, 1))
        print(f"round {r + 1}: batched {1e3 * batched[-1]:.1f} ms, sequential {1e3 * sequential[-1]:.1f} ms per task per step",
              flush=True)
    b, s = statistics.median(batched), statistics.median(sequential)
    per_task = b * default.train_steps
    print(f"{len(tasks)} ARC-AGI-1 training tasks, {default.attempts} attempts each, {args.threads} thread(s); "
          f"budget {default.train_steps} steps of T = {default.steps}")
    print(f"batched (groups of {default.group_size}): {per_task:.1f} CPU-s per task → {3600 / per_task:.0f} tasks per CPU-hour")
    print(f"one task at a time: {s * default.train_steps:.1f} CPU-s per task; batched is {s / b:.2f}× faster")
    print(json.dumps({"arc_tasks_per_cpu_hour": round(3600 / per_task, 1), "arc_batched_vs_sequential": round(s / b, 3),
                      "arc_cpu_s_per_task": round(per_task, 2), "tasks": len(tasks), "steps_measured": args.steps,
                      "train_steps": default.train_steps, "threads": args.threads}))


if __name__ == "__main__":
    main()
