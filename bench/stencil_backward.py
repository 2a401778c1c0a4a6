#!/usr/bin/env python
"""Depthwise ``stencil_conv`` forward + backward: AA's path against autograd's oneDNN backward.

A pure depthwise 3×3×3 kernel (``groups = Cin = Cout``) is the gate of the ``gmlp`` cell and the
perception of depthwise cells. ``stencil_conv`` takes its input gradient as a oneDNN forward with
the flipped kernel; the reference is ``torch.mkldnn_convolution`` under autograd (the previous
path). Shapes: the voxel lattice 8×8×27 at batch 5 with the ``gmlp`` cell's 170 gate channels
(its cells-table size) and 32 channels, and a 32³ lattice at batch 1 with 16 channels.
Timings are interleaved (each round times both once), medians over rounds, one thread by default.
The last line is one JSON object: ``*_speedup`` = reference time ÷ AA time per shape.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import torch

from aa_core.builtins.configs import LatticeConfig
from aa_core.lattice.geometry import Lattice
from aa_core.plugin import stencil_conv

SHAPES = {"voxel_c170": ((8, 8, 27), 5, 170), "voxel_c32": ((8, 8, 27), 5, 32), "cube32_c16": ((32, 32, 32), 1, 16)}


def reference(grid: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """The previous path: oneDNN forward, autograd's backward."""
    x = grid.permute(0, 4, 1, 2, 3).contiguous(memory_format=torch.channels_last_3d)
    out = torch.mkldnn_convolution(x, w, b, (1, 1, 1), (1, 1, 1), (1, 1, 1), w.shape[0])
    return out.permute(0, 2, 3, 4, 1)


def race(size: tuple[int, int, int], batch: int, C: int, rounds: int) -> tuple[float, float]:
    """Median seconds of (AA, reference) forward + backward, interleaved rounds."""
    g = Lattice(LatticeConfig(size=list(size), neighbourhood=26, boundary="zero"))
    gen = torch.Generator().manual_seed(0)
    grid = torch.randn(batch, *size, C, generator=gen, requires_grad=True)
    w = torch.randn(C, 1, 3, 3, 3, generator=gen, requires_grad=True)
    b = torch.randn(C, generator=gen, requires_grad=True)
    up = torch.randn(batch, *size, C, generator=gen)
    contestants = {
        "aa": lambda: (stencil_conv(grid, w, b, g, groups=C) * up).sum().backward(),
        "ref": lambda: (reference(grid, w, b) * up).sum().backward(),
    }
    times: dict[str, list[float]] = {key: [] for key in contestants}
    for fn in contestants.values():
        fn()  # warm-up
    for _ in range(rounds):
        for key, fn in contestants.items():
            t = time.perf_counter()
            fn()
            times[key].append(time.perf_counter() - t)
    return statistics.median(times["aa"]), statistics.median(times["ref"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    fig: dict[str, float | int | list[float]] = {"threads": args.threads}
    for name, (size, batch, C) in SHAPES.items():
        a, r = race(size, batch, C, args.rounds)
        print(f"{name}: batch {batch}, {C} channels, {size}: AA {a * 1e3:.2f} ms, reference {r * 1e3:.2f} ms, "
              f"speedup {r / a:.2f}x (forward + backward, median of {args.rounds})")
        fig[f"{name}_aa_ms"] = round(a * 1e3, 3)
        fig[f"{name}_reference_ms"] = round(r * 1e3, 3)
        fig[f"{name}_speedup"] = round(r / a, 3)
    fig["loadavg_1m"] = os.getloadavg()[0]
    print(json.dumps(fig))


if __name__ == "__main__":
    main()
