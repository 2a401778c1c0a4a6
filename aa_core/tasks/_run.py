"""Executing a spec's ``[run] tasks`` in order; tasks come from plugins (the core's own: ``check``).

Each task is ``run(spec, state)``; ``state`` is a dict the tasks share (the model, data, run id …).
"""
from __future__ import annotations

import random
import time
from typing import Any

from ..host import host, resolve
from ..spec import Spec
from ._preflight import preflight


def seed_everything(seed: int) -> None:
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def run_spec(spec: Spec, state: dict[str, Any] | None = None) -> int:
    import torch

    run = spec.sections["run"]
    preflight(spec)
    if run.threads:
        torch.set_num_threads(run.threads)
    seed_everything(run.seed)
    tasks = host().tasks()
    state = {} if state is None else state
    for name in run.tasks:
        t0 = time.perf_counter()
        resolve(tasks[name][0].run)(spec, state)
        print(f"[{name}] done in {time.perf_counter() - t0:.1f} s", flush=True)
    return 0
