"""The `nca` propagator's row path for cells without a lattice form, against the dense step.

In training (fire masks) and with alive masks, the `nca` propagator runs a cell that has only the
plain ``forward`` (cct, ret, most third-party cells) on the neighbourhoods of the cells that fire
near an alive cell, instead of on every cell. This times whole training steps (forward over the
propagator's steps, backward, optimizer) of the cells-table models on self-classifying digits with
``propagator.path = "fast"`` (row path) and ``"reference"`` (dense, every cell), same weights, same
batches, same seeds, the two interleaved, and checks that the two give the same loss.

Run: python bench/row_path.py [--quick] [--reps N]. The last line is one JSON object with
``{cell}_row_speedup`` (dense s/step ÷ row-path s/step, medians), ``{cell}_row_s_per_step``,
``{cell}_dense_s_per_step``, ``{cell}_max_loss_diff``, ``threads`` and ``loadavg_1m``.
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import time
import tomllib
from pathlib import Path

import torch

from aa_core.run import BuildContext, validate

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "examples" / "ca" / "self_classify.toml"
CELLS = {  # the cells table's digits rows (docs/tasks.md), at its 22,500-parameter budget
    "cct": {"name": "cct", "channels": 20, "dim": 32, "heads": 2, "layers": 2, "mlp_ratio": 3.0, "tokenizer_kernel": 1},
    "ret": {"name": "ret", "channels": 20, "dim": 44, "heads": 2, "layers": 2, "mlp_ratio": 3.0, "share_layers": True},
}


def build(cell: dict, path: str):
    raw = tomllib.loads(SPEC.read_text())
    raw["cell"] = dict(cell)
    raw["propagator"]["path"] = path
    ctx = BuildContext(validate(raw, source=str(SPEC)))
    model, dataset = ctx.build("pipeline"), ctx.build("dataset")
    dataset.setup(model, ctx)
    dataset.objective = ctx.build("objective")  # the maths, kept beside the data for train_step
    return model, dataset, raw["train"]["batch_size"]


def train_step(model, dataset, opt, idx: torch.Tensor, seed: int) -> float:
    """One optimizer step on the batch ``idx``; the propagator's draws (fire masks) seeded by ``seed``."""
    model.train()
    torch.manual_seed(seed)
    batch = dataset.batch("train", idx)
    loss = dataset.objective.training_loss(model, batch)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return float(loss.detach())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="3 timed steps per path (default 7)")
    ap.add_argument("--reps", type=int)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    reps = args.reps or (3 if args.quick else 7)
    torch.set_num_threads(args.threads)
    out: dict[str, float | int] = {}
    for name, cell in CELLS.items():
        torch.manual_seed(0)
        fast, dataset, batch_size = build(cell, "fast")
        dense, dense_data, _ = build(cell, "reference")
        dense.load_state_dict(copy.deepcopy(fast.state_dict()))
        opts = {"fast": torch.optim.Adam(fast.parameters(), lr=2e-3), "reference": torch.optim.Adam(dense.parameters(), lr=2e-3)}
        runs = {"fast": (fast, dataset), "reference": (dense, dense_data)}
        times: dict[str, list[float]] = {"fast": [], "reference": []}
        losses: dict[str, list[float]] = {"fast": [], "reference": []}
        gen = torch.Generator().manual_seed(0)
        for rep in range(reps + 1):  # the first step of each path is a warm-up, not timed
            idx = torch.randperm(dataset.sizes()["train"], generator=gen)[:batch_size]
            for path in ("fast", "reference") if rep % 2 == 0 else ("reference", "fast"):
                model, data = runs[path]
                t = time.perf_counter()
                losses[path].append(train_step(model, data, opts[path], idx, seed=rep))
                if rep:
                    times[path].append(time.perf_counter() - t)
        row, ref = statistics.median(times["fast"]), statistics.median(times["reference"])
        diff = max(abs(a - b) for a, b in zip(losses["fast"], losses["reference"], strict=True))
        print(f"{name}: row path {row:.3f} s/step, dense {ref:.3f} s/step → {ref / row:.2f}× "
              f"(median of {reps}; largest loss difference {diff:.2e})", flush=True)
        out.update({f"{name}_row_speedup": round(ref / row, 3), f"{name}_row_s_per_step": round(row, 4),
                    f"{name}_dense_s_per_step": round(ref, 4), f"{name}_max_loss_diff": float(f"{diff:.3g}")})
    out.update({"threads": torch.get_num_threads(), "loadavg_1m": round(os.getloadavg()[0], 2)})
    print(json.dumps(out))


if __name__ == "__main__":
    main()
