"""Resident memory of voxel `cct` training steps on a grown lattice, beside `aa check`'s estimate.

The cells table's voxel `cct` model (`examples/ca/voxel_growth.toml`, gradient checkpointing, the
`nca` row path) with alive masking off, so every cell is in reach and each update runs the cell on
the ~50 % of the cells that fire — a grown lattice's selection, whatever training does to the
pattern — trained on random states, T drawn from the spec's 48–64 steps, AdamW, one thread: the peak RSS after the first step (the estimate's meta-device build ran
before it), each step's RSS at its end, and after `aa_core.train.heap.release_freed_memory` (what the trainer runs
after each step). The gap between the two last figures is freed heap glibc keeps: the row path's
tensors change size with the selection from step to step. The estimate is the one `aa check` and
`aa run` compare with the memory available (the `train` task's figure).

Run: python bench/grown_memory.py [--steps N] (default 6, ~25 s a step). The last line is one JSON
object: ``estimate_gib``, ``first_step_peak_gib``, ``step_end_gib`` (median), ``peak_gib`` (all
steps), ``trimmed_gib`` (median), ``peak_to_estimate``, ``threads``, ``loadavg_1m``.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import torch

from aa_core.assemble import build_model
from aa_core.assemble._memory import _status
from aa_core.spec import load_spec
from aa_core.tasks._preflight import memory_estimates
from aa_core.train.heap import release_freed_memory

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "examples" / "ca" / "voxel_growth.toml"
CCT = ['cell={name="cct"}', "cell.channels=20", "cell.dim=32", "cell.heads=2", "cell.layers=1", "cell.mlp_ratio=2.0",
       "cell.tokenizer_kernel=1", "propagator.gradient_checkpointing=true"]  # the cells table's row
CLASSES = 7  # the voxel spec's class channels (the loss)
GIB = 2**30


def resident() -> float:
    return _status("VmRSS") / GIB


def peak() -> float:
    return _status("VmHWM") / GIB


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=6)
    args = ap.parse_args()
    torch.set_num_threads(1)
    spec = load_spec(SPEC, CCT)
    estimate = memory_estimates(spec, ["train"])["train"] / GIB
    torch.manual_seed(0)
    model, _ctx = build_model(spec)
    model.propagator.config.alive_threshold = None  # every cell in reach: the grown regime, whatever training does
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3)
    model.train()
    torch.manual_seed(0)
    batch, cells, channels = 5, model.geometry.num_cells, model.channels
    ends, trimmed, first = [], [], 0.0
    for i in range(args.steps):
        steps = int(torch.randint(48, 65, ()).item())
        x = torch.randn(batch, cells, channels) * 0.1  # [B, N, C]
        t0 = time.perf_counter()
        loss = model.grow(x, steps)[..., :CLASSES].square().mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if i == 0:
            first = peak()
        ends.append(resident())
        release_freed_memory()
        trimmed.append(resident())
        print(f"step {i}: T={steps}, {time.perf_counter() - t0:.1f} s: "
              f"{ends[-1]:.2f} GiB at its end, {trimmed[-1]:.2f} GiB trimmed; peak so far {peak():.2f} GiB", flush=True)
    top, end, low = peak(), statistics.median(ends), statistics.median(trimmed)
    out = {"estimate_gib": round(estimate, 3), "first_step_peak_gib": round(first, 3), "step_end_gib": round(end, 3),
           "peak_gib": round(top, 3), "trimmed_gib": round(low, 3), "peak_to_estimate": round(top / estimate, 2),
           "threads": torch.get_num_threads(), "loadavg_1m": os.getloadavg()[0]}
    print(f"aa check estimates {estimate:.2f} GiB; measured: first step {first:.2f} GiB, step ends "
          f"{end:.2f} GiB (median), peak {top:.2f} GiB, trimmed {low:.2f} GiB")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
