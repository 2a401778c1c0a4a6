"""Benchmark of aa-mamba's global pass (CPU backend), measured in one run.

1. Forward and forward+backward time of the ``mamba`` propagator (default config: 1 layer,
   bidirectional, d_model = 16 channels, d_state 16) versus lattice size, flat and
   hierarchical, with time per cell.
2. The CPU block against transformers' ``MambaMixer`` slow path (its pure-PyTorch loop) on
   the same weights: a 4096-long sequence, d_model 64, 2 residual layers, batch 1, fwd+bwd.

Medians over repetitions of CPU (process) time, one intra-op thread by default. The last line is one JSON object of the figures.
Usage: python bench/mamba.py [--quick] [--hf-len 4096] [--threads N]
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import time

import torch
from torch import nn

from aa_core.builtins.configs import LatticeConfig
from aa_core.lattice.geometry import Lattice
from aa_mamba.block import MambaBlock
from aa_mamba.configs import MambaPropagatorConfig
from aa_mamba.propagator import MambaPropagator


def timed(fn, reps: int) -> float:
    """Median CPU seconds of ``fn`` (process time: on a shared machine, time spent waiting for a
    core is not the code's cost; with one intra-op thread CPU time equals single-core time)."""
    fn()  # warm-up
    ts = []
    for _ in range(reps):
        t = time.process_time()
        fn()
        ts.append(time.process_time() - t)
    return statistics.median(ts)


def lattice_sizes(args):
    sizes = [(8, 8, 8), (16, 16, 4), (32, 32, 6), (64, 64, 8)]
    return sizes[:3] if args.quick else sizes + [(128, 128, 8)]


def bench_lattice(size, hierarchical: str, channels: int, reps: int):
    torch.manual_seed(0)
    prop = MambaPropagator(MambaPropagatorConfig(hierarchical=hierarchical), Lattice(LatticeConfig(size=list(size))), channels)
    n = prop.geometry.num_cells
    x = torch.randn(1, n, channels)

    def fwd():
        with torch.no_grad():
            prop(x)

    def fwd_bwd():
        xg = x.clone().requires_grad_()
        prop(xg).square().mean().backward()

    f, fb = timed(fwd, reps), timed(fwd_bwd, reps)
    return {"size": "x".join(map(str, size)), "cells": n, "mode": "hierarchical" if prop.hierarchical else "flat",
            "fwd_s": f, "fwd_bwd_s": fb, "fwd_us_per_cell": 1e6 * f / n, "fwd_bwd_us_per_cell": 1e6 * fb / n}


class Stack(nn.Module):
    """``layers`` residual mixers: x ← x + mixer(x)."""

    def __init__(self, mixers):
        super().__init__()
        self.layers = nn.ModuleList(mixers)

    def forward(self, x):
        for m in self.layers:
            x = x + m(x)
        return x


def bench_vs_hf(L: int, d: int, layers: int, reps: int):
    from transformers.models.mamba.configuration_mamba import MambaConfig
    from transformers.models.mamba.modeling_mamba import MambaMixer

    torch.manual_seed(0)
    ours = Stack([MambaBlock(d, backend="cpu") for _ in range(layers)])
    cfg = MambaConfig(hidden_size=d, state_size=16, conv_kernel=4, expand=2, num_hidden_layers=layers)
    hf = Stack([MambaMixer(cfg, layer_idx=i) for i in range(layers)])
    hf.load_state_dict(ours.state_dict(), strict=True)
    x = torch.randn(1, L, d)
    w = torch.randn(1, L, d)

    def run(model):
        xg = x.clone().requires_grad_()
        y = model(xg)
        (y * w).sum().backward()
        return y.detach(), xg.grad

    def fwd_bwd(model):
        model.zero_grad()
        return run(model)

    t_ours = timed(lambda: fwd_bwd(ours), reps)
    ours.zero_grad()
    y1, g1 = run(ours)
    t0, w0 = time.process_time(), time.perf_counter()
    y2, g2 = run(hf)  # one measured run: the slow path is O(L²) in backward
    t_hf = time.process_time() - t0
    print(f"transformers slow path: {t_hf:.1f} CPU s ({time.perf_counter() - w0:.1f} s wall)", flush=True)
    grads = {n: p.grad for n, p in ours.named_parameters()}
    diff_param = max(((p.grad - grads[n]).abs().max().item() / max(1.0, p.grad.abs().max().item())) for n, p in hf.named_parameters())
    diff = max((y1 - y2).abs().max().item(), (g1 - g2).abs().max().item())
    return {"L": L, "d_model": d, "layers": layers, "ours_fwd_bwd_s": t_ours, "hf_slow_fwd_bwd_s": t_hf,
            "speedup": t_hf / t_ours, "max_abs_diff_output_and_input_grad": diff, "max_rel_diff_param_grads": diff_param}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="small sizes and a short HF sequence (smoke run)")
    ap.add_argument("--hf-len", type=int, default=4096)
    ap.add_argument("--threads", type=int, default=1, help="intra-op threads (1: stable timings on a shared machine)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {platform.processor() or platform.machine()}")
    rows = []
    for size in lattice_sizes(args):
        n = size[0] * size[1] * size[2]
        reps = 5 if n <= 8192 else 3
        for mode in ("off", "on"):
            r = bench_lattice(size, mode, 16, reps)
            rows.append(r)
            print(f"{r['size']:>10} {r['cells']:>7} cells {r['mode']:>12}: CPU fwd {r['fwd_s']*1e3:8.1f} ms "
                  f"({r['fwd_us_per_cell']:6.2f} µs/cell)  fwd+bwd {r['fwd_bwd_s']*1e3:8.1f} ms ({r['fwd_bwd_us_per_cell']:6.2f} µs/cell)", flush=True)
    hf_len = 512 if args.quick else args.hf_len
    hf = bench_vs_hf(hf_len, 64, 2, reps=5)
    print(f"L={hf['L']} d=64 2 layers fwd+bwd: ours {hf['ours_fwd_bwd_s']:.3f} s, transformers slow path {hf['hf_slow_fwd_bwd_s']:.1f} s "
          f"-> {hf['speedup']:.0f}x; max |diff| output+input grad {hf['max_abs_diff_output_and_input_grad']:.2e}, "
          f"param grads (rel) {hf['max_rel_diff_param_grads']:.2e}", flush=True)

    def per_cell(size, mode):
        return next(r["fwd_bwd_us_per_cell"] for r in rows if r["size"] == size and r["mode"] == mode)

    big, small = ("32x32x6", "16x16x4") if args.quick else ("64x64x8", "16x16x4")
    auto_big = "hierarchical" if int(big.split("x")[0]) ** 2 * int(big.split("x")[2]) > MambaPropagatorConfig().hierarchical_above else "flat"
    out = {
        "cpu_vs_hf_slow_fwd_bwd": round(hf["speedup"], 1),
        "max_abs_diff_vs_hf": hf["max_abs_diff_output_and_input_grad"],
        "max_rel_param_grad_diff_vs_hf": hf["max_rel_diff_param_grads"],
        "hf_len": hf["L"],
        "ours_fwd_bwd_s_4096": round(hf["ours_fwd_bwd_s"], 4),
        "hf_slow_fwd_bwd_s_4096": round(hf["hf_slow_fwd_bwd_s"], 2),
        f"per_cell_ratio_{big}_vs_{small}": round(per_cell(big, auto_big) / per_cell(small, "flat"), 3),
        f"per_cell_ratio_{big}_vs_{small}_flat": round(per_cell(big, "flat") / per_cell(small, "flat"), 3),
        f"per_cell_ratio_{big}_vs_{small}_hierarchical": round(per_cell(big, "hierarchical") / per_cell(small, "hierarchical"), 3),
        "lattice": [{k: (round(v, 4) if isinstance(v, float) else v) for k, v in r.items()} for r in rows],
        "threads": torch.get_num_threads(),
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
