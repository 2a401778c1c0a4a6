"""Executing a spec's [run] tasks in order: check, train, evaluate, ask."""
from __future__ import annotations

import random
import time
from importlib import import_module

from ._spec import Spec

# task → "module:function(spec, state) -> None"; state carries the model between tasks.
TASKS = {
    "check": "aa_core.commands.check:run_task",
    "train": "aa_core.qa.train:run_task",
    "evaluate": "aa_core.qa.evaluate:run_task",
    "ask": "aa_core.qa.ask:run_task",
}


def seed_everything(seed: int) -> None:
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def run_spec(spec: Spec) -> int:
    import torch

    run = spec.sections["run"]
    if run.threads:
        torch.set_num_threads(run.threads)
    seed_everything(run.seed)
    state: dict = {}
    for task in run.tasks:
        t0 = time.perf_counter()
        module, _, fn = TASKS[task].partition(":")
        getattr(import_module(module), fn)(spec, state)
        print(f"[{task}] done in {time.perf_counter() - t0:.1f} s", flush=True)
    return 0
