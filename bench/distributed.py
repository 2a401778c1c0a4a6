#!/usr/bin/env python
"""Beyond one process: data-parallel training (1 vs 2 processes) and lattice-parallel propagation.

Every rank is a separate process on this machine (gloo over 127.0.0.1), measured in one run:

- DDP: the ``train`` loop on a direct_embedding pipeline (teacher-width vectors, lattice 6×6×4),
  one process vs two processes at the same global batch: steps/s of each and the largest
  difference of the final weights (``ddp_max_abs_diff``).
- Lattice-parallel: one no-grad step (chunked) of the Broca lattice 333×333×166, C=8, mlp cell
  (hidden 64), with 1 rank and with 2 ranks (slabs along x, halo exchange): time, peak RSS of
  each rank (VmHWM), the largest difference between the two results, and the halo overhead =
  (slab step − the same slab's step without any exchange) / slab step, medians. Each rank's RSS
  before any lattice state (interpreter, torch, process group) is reported beside its peak, and
  the same step is measured at C=32 (``*_c32`` keys), where the state rather than these
  per-process constants dominates the memory. ``--chunk-planes`` sets the chunk for both.
- Memory-capped ranks: two machines of half this one's size are emulated with a per-process
  address-space cap (RLIMIT_AS, ``--cap-gib``; default half of this machine's memory — on a
  shared machine pass less): the largest channel count (of ``--search``) whose Broca step runs
  under the cap with 1 rank and with 2 ranks, and one training step (forward + backward,
  ``--train-scale`` of Broca, C=8) with 1 rank and with 2 capped ranks.

``--quick`` shrinks the lattice (Broca × 0.25) and the searches. The last line is one JSON object.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import time
from datetime import timedelta

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BROCA = [333, 333, 166]
HIDDEN = 64


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def peak_rss_gib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(world: int, worker_args: list[str], cap_gib: float | None = None, threads: int | None = None) -> list[dict]:
    """Start ``world`` rank processes of this script; each prints one JSON line (``{"error": ...}`` on failure)."""
    port = free_port()
    env = {**os.environ, "OMP_NUM_THREADS": str(threads or max(1, 2 // world))}
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", "--world", str(world), "--port", str(port)]
    if cap_gib:
        cmd += ["--cap-gib", str(cap_gib)]
    procs = [subprocess.Popen([*cmd, "--rank", str(r), *worker_args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for r in range(world)]
    out = []
    for p in procs:
        stdout, stderr = p.communicate()
        lines = [ln for ln in stdout.splitlines() if ln.startswith("{")]
        if p.returncode == 0 and lines:
            out.append(json.loads(lines[-1]))
        else:
            out.append({"error": (stderr.strip().splitlines() or [f"exit {p.returncode}"])[-1][:300]})
    return out


# ---- rank side -------------------------------------------------------------------------------
def _slab_state(g, x0: int, x1: int, channels: int):
    """Planes x0..x1 of the seeded Broca state (every plane from its own seed: any split gives the same lattice)."""
    import torch

    _, Y, Z = g.size
    state = torch.empty(1, (x1 - x0) * Y * Z, channels)
    for i, x in enumerate(range(x0, x1)):  # filled in place: no second copy in the peak
        state[:, i * Y * Z : (i + 1) * Y * Z] = torch.randn(1, Y * Z, channels, generator=torch.Generator().manual_seed(x)) * 0.1
    return state


def lattice_worker(a: argparse.Namespace) -> dict:
    import torch
    import torch.distributed as dist

    from aa_core.builtins.configs import LatticeConfig, MLPCellConfig, NCAConfig
    from aa_core.builtins.mlp import MLPCell
    from aa_core.lattice.geometry import Lattice
    from aa_core.lattice.nca import NCAPropagator
    from aa_core.lattice.parallel import SlabPropagator, allreduce_gradients

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    if a.world > 1:
        dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{a.port}", rank=a.rank, world_size=a.world,
                                timeout=timedelta(minutes=20))
    torch.manual_seed(0)
    g = Lattice(LatticeConfig(size=BROCA, scale_factor=a.scale, boundary=a.boundary))
    cell = MLPCell(MLPCellConfig(channels=a.channels, hidden=HIDDEN), g)
    prop = NCAPropagator(NCAConfig(steps=1, gradient_checkpointing=a.mode == "train", chunk_planes=a.chunk_planes or None), g, cell)
    slab = SlabPropagator(prop)
    c = slab.comm
    rec: dict = {"rank": a.rank, "planes": c.planes, "size": list(g.size), "channels": a.channels,
                 "runtime_rss_gib": peak_rss_gib()}  # interpreter + torch + process group, before any lattice state
    try:
        state = _slab_state(g, c.x0, c.x1, a.channels)
        if a.mode == "train":
            prop.train()
            x = state.requires_grad_(True)
            t = time.perf_counter()
            loss = slab(x).square().sum()
            loss.backward()
            allreduce_gradients(prop)
            rec.update(train_step_s=time.perf_counter() - t, ok=True)
        else:
            prop.eval()
            times, alone = [], []
            with torch.no_grad():
                for i in range(a.repeats):
                    if a.world > 1:
                        dist.barrier()
                    t = time.perf_counter()
                    out = slab(state)
                    times.append(time.perf_counter() - t)
                    if a.save and i == a.repeats - 1:
                        torch.save(out, f"{a.save}.{a.rank}")
                    del out  # not kept alive through the next step (it would count in the peak)
                    if a.world > 1 and a.overhead:  # the same slab, the same chunks, no exchange
                        solo = NCAPropagator(prop.config, g.slab(c.planes), cell).eval()
                        dist.barrier()
                        t = time.perf_counter()
                        solo(state)
                        alone.append(time.perf_counter() - t)
            with torch.no_grad():
                rec.update(step_s=statistics.median(times), ok=True, chunk_planes=prop.chunk_planes_for(state))
            if alone:
                rec["alone_s"] = statistics.median(alone)
    except (MemoryError, RuntimeError) as exc:  # the cap: an allocation failed
        rec.update(ok=False, error=str(exc).splitlines()[0][:200], peak_rss_gib=peak_rss_gib())
        print(json.dumps(rec), flush=True)
        os._exit(0)  # at once: the peer's pending exchange then fails too instead of waiting
    rec["peak_rss_gib"] = peak_rss_gib()
    return rec


TRAIN_PAIRS = 290  # the bundled set's training split (0.8 of 363 pairs after de-duplication)
DDP_SPEC = {
    "geometry": {"size": [8, 8, 4]},
    "cell": {"name": "mlp", "channels": 8, "hidden": 32},
    "propagator": {"steps": 4},
    "adapter": {"name": "learned_linear"},
    "pipeline": {"residual": True},
    "data": {"path": os.path.join(ROOT, "examples", "data", "ml_qa.jsonl"), "split": [0.8, 0.1, 0.1]},
    "train": {"epochs": 2, "batch_size": 32, "seed": 0, "patience": 10},
    "qa_loss": {"contrastive_weight": 0.5},
}


def ddp_worker(spec_path: str, out: str) -> None:
    """One rank of the DDP figures (under torchrun): the core's trainer on the spec's dataset (the
    question→answer pairs, through the plugin host), steps/s; rank 0 saves the weights."""
    import torch

    sys.path.insert(0, ROOT)
    from aa_core import validate
    from aa_core.assemble import build_model
    from aa_core.train import distributed, fit
    from aa_core.train.task import build_dataset

    spec = validate(json.loads(open(spec_path).read()))
    cfg = spec.sections["train"]
    distributed.init(torch.device("cpu"))
    torch.manual_seed(cfg.seed)
    model, ctx = build_model(spec)
    dataset = build_dataset(spec, ctx)
    dataset.setup(model, ctx)  # rank 0 embeds (cached on disk), the others receive the vectors
    res = fit(model, dataset, cfg, progress=False)
    steps = cfg.epochs * -(-dataset.sizes()["train"] // cfg.batch_size)
    if distributed.is_main():
        torch.save(model.state_dict(), out)
        print(json.dumps({"steps_per_s": steps / res["time_s"], "time_s": res["time_s"]}), flush=True)


def ddp_figures(quick: bool, tmp: str) -> dict:
    import torch

    raw = json.loads(json.dumps(DDP_SPEC))
    raw["train"]["epochs"] = 1 if quick else 3
    with open(f"{tmp}/spec.json", "w") as f:
        json.dump(raw, f)
    res = {}
    for n in (1, 2):
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(n), os.path.abspath(__file__),
               "--ddp-worker", f"{tmp}/spec.json", f"{tmp}/w{n}.pt"]
        env = {**os.environ, "OMP_NUM_THREADS": str(2 // n)}
        r = subprocess.run(cmd, capture_output=True, text=True, env=env)
        if r.returncode != 0:
            raise SystemExit(f"DDP run with {n} process(es) failed:\n{r.stderr[-2000:]}")
        res[n] = json.loads([ln for ln in r.stdout.splitlines() if ln.startswith("{")][-1])
    w1, w2 = torch.load(f"{tmp}/w1.pt"), torch.load(f"{tmp}/w2.pt")
    diff = max(float((w1[k] - w2[k]).abs().max()) for k in w1)
    log(f"DDP {TRAIN_PAIRS} pairs, global batch {raw['train']['batch_size']}: 1 process {res[1]['steps_per_s']:.1f} steps/s "
        f"(2 threads), 2 processes {res[2]['steps_per_s']:.1f} steps/s (1 thread each), "
        f"ratio {res[2]['steps_per_s'] / res[1]['steps_per_s']:.2f}; max |weight diff| {diff:.2e}")
    return {"ddp_steps_per_s_1": res[1]["steps_per_s"], "ddp_steps_per_s_2": res[2]["steps_per_s"],
            "ddp_speedup_2": res[2]["steps_per_s"] / res[1]["steps_per_s"], "ddp_max_abs_diff": diff}


# ---- orchestration -------------------------------------------------------------------------
def lattice_parallel(scale: float, repeats: int, tmp: str, chunk_planes: int, channels: int = 8) -> dict:
    common = ["--scale", str(scale), "--repeats", str(repeats), "--chunk-planes", str(chunk_planes), "--channels", str(channels)]
    one = launch(1, [*common, "--save", f"{tmp}/one"], threads=2)[0]
    two = launch(2, [*common, "--save", f"{tmp}/two", "--overhead"])
    for r in [one, *two]:
        if not r.get("ok"):
            raise SystemExit(f"lattice-parallel step failed: {r}")
    import torch

    ref = torch.load(f"{tmp}/one.0")
    joined = torch.cat([torch.load(f"{tmp}/two.{r}") for r in range(2)], 1)
    diff = float((joined - ref).abs().max())
    for f in (f"{tmp}/one.0", f"{tmp}/two.0", f"{tmp}/two.1"):
        os.remove(f)
    step2 = max(r["step_s"] for r in two)
    overhead = max((r["step_s"] - r["alone_s"]) / r["step_s"] for r in two)
    rss2 = max(r["peak_rss_gib"] for r in two)
    above = [(r["peak_rss_gib"] - r["runtime_rss_gib"]) for r in (one, *two)]
    log(f"lattice step {one['size']} C={channels}: 1 rank {one['step_s']:.2f} s, {one['peak_rss_gib']:.2f} GiB; "
        f"2 ranks {step2:.2f} s, {rss2:.2f} GiB per rank (ratio {rss2 / one['peak_rss_gib']:.2f}); max |diff| {diff:.2e}; "
        f"halo overhead {overhead:.1%}; runtime (torch + process group) {one['runtime_rss_gib']:.2f} / "
        f"{max(r['runtime_rss_gib'] for r in two):.2f} GiB, peak above it {above[0]:.2f} / {max(above[1:]):.2f} GiB "
        f"(ratio {max(above[1:]) / above[0]:.2f})")
    return {"lattice_size": one["size"], "lattice_step_s_1rank": one["step_s"], "lattice_step_s_2ranks": step2,
            "rss_gib_1rank": one["peak_rss_gib"], "rss_gib_per_rank_2": rss2, "rss_per_rank_ratio_2": rss2 / one["peak_rss_gib"],
            "lattice_parallel_max_abs_diff": diff, "halo_overhead_fraction": overhead,
            "slab_alone_s": [r["alone_s"] for r in two], "slab_step_s": [r["step_s"] for r in two],
            "chunk_planes": one.get("chunk_planes"), "runtime_rss_gib_1rank": one["runtime_rss_gib"],
            "runtime_rss_gib_2": max(r["runtime_rss_gib"] for r in two), "above_runtime_ratio_2": max(above[1:]) / above[0]}


def capped(scale: float, cap: float, channels: list[int], train_scale: float) -> dict:
    out: dict = {"cap_gib_per_rank": cap}
    for world in (1, 2):
        best = None
        for ch in channels:
            rs = launch(world, ["--scale", str(scale), "--channels", str(ch)], cap_gib=cap)
            ok = all(r.get("ok") for r in rs)
            log(f"cap {cap} GiB, {world} rank(s), C={ch}: {'runs' if ok else 'fails'} "
                f"(peak {max(r.get('peak_rss_gib', 0) for r in rs):.2f} GiB/rank)")
            if not ok:
                break
            best = ch
        out[f"max_channels_{world}rank" + ("s" if world > 1 else "")] = best
    for world in (1, 2):
        rs = launch(world, ["--scale", str(train_scale), "--mode", "train"], cap_gib=cap)
        ok = all(r.get("ok") for r in rs)
        log(f"cap {cap} GiB, training step Broca×{train_scale} C=8 on {world} rank(s): {'runs' if ok else 'fails'} {rs}")
        out[f"train_step_runs_{world}rank" + ("s" if world > 1 else "")] = ok
        out[f"train_step_s_{world}rank" + ("s" if world > 1 else "")] = max((r.get("train_step_s") or 0) for r in rs) if ok else None
    out["train_scale"] = train_scale
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="Broca × 0.25 and short searches")
    ap.add_argument("--cap-gib", type=float, default=None, help="per-rank address-space cap (default: half of this machine)")
    ap.add_argument("--train-scale", type=float, default=None, help="Broca scale of the capped training step")
    ap.add_argument("--skip-ddp", action="store_true", help="leave out the DDP figures")
    ap.add_argument("--skip-capped", action="store_true", help="leave out the memory-capped searches")
    ap.add_argument("--search", default=None, help="channel counts tried under the cap, e.g. 8,16,24,32 (default: 8,16,24,32,48,64)")
    ap.add_argument("--chunk-planes", type=int, default=0,
                    help="planes per chunk of the no-grad step, the same for 1 and 2 ranks (default: the engine's automatic choice)")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--ddp-worker", nargs=2, default=None, help=argparse.SUPPRESS)
    for name, typ, default in (("rank", int, 0), ("world", int, 1), ("port", int, 0), ("scale", float, 1.0), ("channels", int, 8),
                               ("repeats", int, 1), ("mode", str, "step"), ("boundary", str, "zero"), ("save", str, "")):
        ap.add_argument(f"--{name}", type=typ, default=default, help=argparse.SUPPRESS)
    ap.add_argument("--overhead", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.ddp_worker:
        ddp_worker(*a.ddp_worker)
        return
    if a.worker:
        if a.cap_gib:
            cap = int(a.cap_gib * 2**30)
            resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
        sys.path.insert(0, ROOT)
        print(json.dumps(lattice_worker(a)), flush=True)
        return
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    cap = a.cap_gib or mem_gib / 2
    scale = 0.25 if a.quick else 1.0
    import tempfile

    fig: dict = {"mode": "quick" if a.quick else "full"}
    with tempfile.TemporaryDirectory() as tmp:
        if not a.skip_ddp:
            fig.update(ddp_figures(a.quick, tmp))
        fig.update(lattice_parallel(scale, 1 if a.quick else 3, tmp, a.chunk_planes))
        if not a.quick:  # the same step where the state, not the per-process runtime, dominates the memory
            wide = lattice_parallel(scale, 1, tmp, a.chunk_planes, channels=32)
            fig.update({f"{k}_c32": wide[k] for k in ("rss_gib_1rank", "rss_gib_per_rank_2", "rss_per_rank_ratio_2",
                                                      "lattice_parallel_max_abs_diff", "halo_overhead_fraction")})
    if not a.skip_capped:
        search = [int(c) for c in a.search.split(",")] if a.search else ([8, 16, 32] if a.quick else [8, 16, 24, 32, 48, 64])
        fig.update(capped(scale, cap, search, a.train_scale or (0.25 if a.quick else 0.7)))
    print(json.dumps(fig))


if __name__ == "__main__":
    main()
