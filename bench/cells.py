"""Benchmark of the plugin cells gmlp, cct and ret (and the core mlp cell as a reference).

For each cell and preset: parameters and cell-updates/s of the nca propagator (inference,
batch 1, path "fast": gmlp uses its lattice-wide conv form, the others their batched
reference) on a 16×16×4 and a 32³ lattice. For ret additionally: stored bytes and CPU
latency of the unreduced model (preset "full", fp32) against the reduced one (half width,
half heads, shared layers, 50 % magnitude pruning, dynamic int8), measured interleaved in
this run. Weights are random (no training here): the output-drift figures say how far
pruning/int8 move the output of these random weights, not task quality.

Run: python bench/cells.py [--quick]. The last line is one JSON object.
"""
from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from aa_core.assemble import BuildContext
from aa_core.spec import validate

LATTICES = {"16x16x4": ([16, 16, 4], 2), "32x32x32": ([32, 32, 32], 1)}  # size, steps T
CELLS = {
    "mlp": {"~10k": {"channels": 32, "hidden": 10}},  # core reference: (27·32+1)·10 + 11·32 = 9,002
    "gmlp": {"10k": {"preset": "10k"}, "25k": {"preset": "25k"}},
    "cct": {"10k": {"preset": "10k"}, "25k": {"preset": "25k"}},
    "ret": {
        "full": {"preset": "full"},
        "reduced": {"preset": "reduced"},
        "reduced_pruned_int8": {"preset": "reduced", "prune_amount": 0.5, "int8": True},
    },
}


def build(cell: dict, size, steps: int, path: str = "fast"):
    raw = {
        "geometry": {"name": "lattice", "size": size, "neighbourhood": 26},
        "cell": cell,
        "propagator": {"name": "nca", "steps": steps, "path": path},
    }
    ctx = BuildContext(validate(raw, source="<bench/cells.py>"))
    return ctx.propagator.eval(), ctx


def timed(fn, reps: int, budget_s: float) -> float:
    """Median seconds of ``fn()`` over up to ``reps`` runs (fewer if over ``budget_s``), after a warm-up."""
    fn()
    times = []
    start = time.perf_counter()
    while len(times) < reps and (not times or time.perf_counter() - start < budget_s):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def cell_rates(reps: int, budget: float, lattices) -> dict:
    out: dict = {}
    for name, presets in CELLS.items():
        for preset, cfg in presets.items():
            entry = out.setdefault(name, {}).setdefault(preset, {"cell_updates_per_s": {}})
            for label, (size, steps) in lattices.items():
                prop, ctx = build({"name": name, **cfg}, size, steps)
                entry["params"] = sum(p.numel() for p in ctx.cell.parameters())
                if cfg.get("int8"):  # packed int8 weights are not parameters(): report the float model's count
                    entry["float_params_left"] = entry["params"]
                    plain = {k: v for k, v in cfg.items() if k not in ("int8", "prune_amount")}
                    entry["params"] = sum(p.numel() for p in build({"name": name, **plain}, size, steps)[1].cell.parameters())
                state = torch.randn(1, ctx.geometry.num_cells, ctx.cell.channels)
                with torch.no_grad():
                    sec = timed(lambda prop=prop, state=state: prop(state), reps, budget)
                entry["cell_updates_per_s"][label] = round(ctx.geometry.num_cells * steps / sec)
                print(f"{name:5s} {preset:20s} params {entry['params']:>7,}  {label:9s} T={steps}: "
                      f"{sec * 1e3:9.1f} ms  {entry['cell_updates_per_s'][label]:>12,} cell-updates/s", flush=True)
    return out


def gmlp_fast_vs_reference(reps: int) -> float:
    """Speed-up of gmlp's lattice-wide form over its literal per-cell reference (16×16×4, 10k)."""
    secs = {}
    for path in ("reference", "fast"):
        prop, ctx = build({"name": "gmlp", "preset": "10k"}, [16, 16, 4], 2, path)
        state = torch.randn(1, ctx.geometry.num_cells, ctx.cell.channels)
        with torch.no_grad():
            secs[path] = timed(lambda prop=prop, state=state: prop(state), reps, 10.0)
    print(f"gmlp 10k 16x16x4: reference {secs['reference'] * 1e3:.1f} ms, fast {secs['fast'] * 1e3:.1f} ms", flush=True)
    return secs["reference"] / secs["fast"]


def ret_reduction(reps: int) -> dict:
    """Bytes and CPU latency: unreduced fp32 "full" vs reduced + pruned + int8 (and the steps between)."""
    from aa_ret.cell import RETCell
    from aa_ret.config import RETCellConfig
    from aa_ret.reduce import compact_state, reduce_for_inference, saved_bytes

    torch.manual_seed(0)
    _, ctx = build({"name": "ret", "preset": "full"}, [16, 16, 4], 1)
    g = ctx.geometry
    full = RETCell(RETCellConfig(preset="full"), g).eval()
    small = RETCell(RETCellConfig(preset="reduced"), g).eval()
    models = {
        "unreduced_fp32": (full, False),
        "unreduced_pruned_int8": (reduce_for_inference(full, 0.5, True), True),
        "reduced_fp32": (small, False),
        "reduced_int8": (reduce_for_inference(small, 0.0, True), False),
        "reduced_pruned_int8": (reduce_for_inference(small, 0.5, True), True),
    }
    x = g.gather(torch.randn(1, g.num_cells, 16))
    res = {}
    for name, (m, sparse) in models.items():
        res[name] = {
            "state_dict_bytes": saved_bytes(m.state_dict()),
            "compact_bytes": saved_bytes(compact_state(m, sparse=sparse)),
            "latency_ms": [],
        }
    with torch.no_grad():
        for m, _ in models.values():
            m(x)  # warm-up
        for _ in range(reps):  # interleaved, so load changes hit every model alike
            for name, (m, _) in models.items():
                t = time.perf_counter()
                m(x)
                res[name]["latency_ms"].append((time.perf_counter() - t) * 1e3)
        y_small = small(x)
        drift = lambda y: ((y - y_small).norm() / y_small.norm()).item()  # noqa: E731
        res["reduced_int8"]["output_drift"] = round(drift(models["reduced_int8"][0](x)), 4)
        res["reduced_pruned_int8"]["output_drift"] = round(drift(models["reduced_pruned_int8"][0](x)), 4)
    for name, r in res.items():
        r["latency_ms"] = round(statistics.median(r["latency_ms"]), 2)
        print(f"ret {name:22s} state_dict {r['state_dict_bytes']:>7,} B  compact {r['compact_bytes']:>7,} B  "
              f"latency {r['latency_ms']:8.2f} ms (16x16x4 lattice, one cell pass, median of {reps})"
              + (f"  output drift vs reduced fp32 {r['output_drift']}" if "output_drift" in r else ""), flush=True)
    base, red = res["unreduced_fp32"], res["reduced_pruned_int8"]
    same = res["unreduced_pruned_int8"]
    return {
        "int8_bytes_ratio": round(red["compact_bytes"] / base["compact_bytes"], 4),
        "int8_latency_ratio": round(red["latency_ms"] / base["latency_ms"], 4),
        "int8_state_dict_bytes_ratio": round(red["state_dict_bytes"] / base["state_dict_bytes"], 4),
        "same_arch_pruned_int8_bytes_ratio": round(same["compact_bytes"] / base["compact_bytes"], 4),
        "same_arch_pruned_int8_latency_ratio": round(same["latency_ms"] / base["latency_ms"], 4),
        "detail": res,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="16x16x4 only, fewer repetitions")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1: stable timings on a shared machine)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, medians", flush=True)
    lattices = {"16x16x4": LATTICES["16x16x4"]} if args.quick else LATTICES
    result = cell_rates(reps=3 if args.quick else 5, budget=4.0, lattices=lattices)
    result["gmlp_fast_over_reference_speedup"] = round(gmlp_fast_vs_reference(3), 2)
    ret = ret_reduction(reps=5 if args.quick else 11)
    result["ret"].update({k: v for k, v in ret.items() if k != "detail"})
    result["ret"]["reduction_detail"] = ret["detail"]
    print(json.dumps(result))


if __name__ == "__main__":
    main()
