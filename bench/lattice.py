#!/usr/bin/env python
"""Lattice-engine benchmark: cell-updates/s of the NCA paths, PyTorch vs plain JAX vs CAX.

Measured in one run, 2 threads, fp32, medians over repeats:
Timings are interleaved (:class:`Race`): the machine is shared, so each round times every
contestant once and the medians compare like with like.

- fp32 matmul peak (2048³ GEMM, MKL and oneDNN, the better) — the yardstick for
  ``dense_fraction_of_peak`` (dense FLOP per cell-update: 2·(27·C·64 + 64·C) = 57,344);
- naive per-cell Python loop (the original prototype's style) on a small lattice;
- reference gather path and fast path (default) of the AA ``nca`` propagator;
- two NCA shapes at 32³, C=16, T=16, batch 1 and 8:
  dense = conv 3×3×3 C→64 + ReLU + linear 64→C (the built-in ``mlp`` cell, 28,752 params),
  depthwise = depthwise conv 3×3×3 C→4C + MLP 4C→64→C (``DepthwiseNCACell``, 6,928 params;
  its fast path is the fused C++ kernel of :mod:`aa_core.lattice._fused` when it builds, and the
  previous folded-dense-conv path is raced alongside at batch 1 as ``torch/folded/depthwise/b1``);
- the same models in plain JAX (jit; lax.conv and shifted-slice stencils — the best counts)
  and in CAX (ConvPerceive + ResidualUpdate), when installed;
- a 16³, batch 8, T=16 training step (forward + backward + AdamW), PyTorch vs JAX;
- the Broca-scale 333×333×166, C=8 single no-grad step (chunked) with its peak RSS, in a
  child process so that the RSS is its own.

``--quick`` shrinks everything (16³, T=4, half-scale Broca) to finish in under a minute.
The last line is one JSON object with the figures.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=true intra_op_parallelism_threads=2")
# The machine is shared: with busy-waiting OpenMP threads a descheduled partner stalls every
# barrier (measured here under load: 32³ b1 0.30 → 1.48 M cell-updates/s with PASSIVE).
# Must be set before torch loads libgomp; override with OMP_WAIT_POLICY=ACTIVE on a quiet machine.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402

THREADS = 2
torch.set_num_threads(THREADS)
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from aa_core.builtins.configs import LatticeConfig, MLPCellConfig, NCAConfig  # noqa: E402
from aa_core.builtins.mlp import MLPCell  # noqa: E402
from aa_core.lattice.depthwise import DepthwiseNCACell, fused_kernel_status  # noqa: E402
from aa_core.lattice.geometry import Lattice  # noqa: E402
from aa_core.lattice.nca import NCAPropagator  # noqa: E402

C, H, M = 16, 64, 4
DENSE_FLOP = 2 * (27 * C * H + H * C)  # 57,344 FLOP per cell-update of the dense model


class Race:
    """Interleaved timing: every round times each contestant once, so all see the same machine load.

    The machine is shared with other jobs; timing A now and B a minute later compares the load,
    not A and B. Contestants slower than ``slow_s`` per call are timed in the first round only.
    """

    def __init__(self, rounds: int, slow_s: float):
        self.rounds, self.slow_s = rounds, slow_s
        self.entries: dict[str, tuple] = {}

    def add(self, name: str, fn, work: float, warmup: int = 1) -> None:
        """``work`` = cell-updates (or steps, FLOP) per call; the result is work per second."""
        self.entries[name] = (fn, work, warmup)

    def run(self) -> dict[str, float]:
        times: dict[str, list[float]] = {k: [] for k in self.entries}
        for fn, _, warmup in self.entries.values():
            for _ in range(warmup):
                fn()
        for r in range(self.rounds):
            for name, (fn, _, _) in self.entries.items():
                if r > 0 and times[name][0] > self.slow_s:
                    continue
                t = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - t)
        self.times = times
        return {k: self.entries[k][1] / statistics.median(v) for k, v in times.items()}


def log(msg: str) -> None:
    print(msg, flush=True)


# ---------------------------------------------------------------------------------- torch
def torch_models(side: int, steps: int, channels: int = C):
    g = Lattice(LatticeConfig(size=[side] * 3))
    torch.manual_seed(0)
    dense = MLPCell(MLPCellConfig(channels=channels, hidden=H), g)
    depth = DepthwiseNCACell(g, channels=channels, multiplier=M, hidden=H)
    for cell in (dense, depth):  # small last layer keeps T steps of residual updates bounded
        with torch.no_grad():
            cell.fc2.weight.mul_(0.1)
    return g, {"dense": dense, "depthwise": depth}


def matmul_contestants(race: Race) -> None:
    """fp32 GEMM, 2048³: MKL sgemm (``a @ b``) and oneDNN (a 1×1×1 conv is a GEMM).

    On this AMD EPYC (AVX-512) MKL stays well below oneDNN, whose kernels the fast path uses,
    so the peak is the better of the two.
    """
    n = 2048
    a, b = torch.randn(n, n), torch.randn(n, n)
    x = torch.randn(1, n, n, 1, 1).contiguous(memory_format=torch.channels_last_3d)  # n rows, K = n
    w = torch.randn(n, n, 1, 1, 1)

    def dnn():
        with torch.no_grad():
            torch.mkldnn_convolution(x, w, None, (0, 0, 0), (1, 1, 1), (1, 1, 1), 1)

    race.add("gemm/mkl", lambda: a @ b, 2 * n**3 / 1e9)
    race.add("gemm/onednn", dnn, 2 * n**3 / 1e9)


def naive_loop(cell: MLPCell, g: Lattice, state: torch.Tensor) -> torch.Tensor:
    """One step, one cell at a time: build each neighbourhood with Python loops, apply the MLP."""
    X, Y, Z = g.size
    grid = state.view(X, Y, Z, -1)
    out = torch.empty_like(grid)
    zero = grid.new_zeros(grid.shape[-1])
    for x in range(X):
        for y in range(Y):
            for z in range(Z):
                nb = []
                for dx, dy, dz in g.offsets:
                    i, j, k = x + dx, y + dy, z + dz
                    inside = 0 <= i < X and 0 <= j < Y and 0 <= k < Z
                    nb.append(grid[i, j, k] if inside else zero)
                v = torch.cat(nb)
                out[x, y, z] = grid[x, y, z] + cell.fc2(torch.relu(cell.fc1(v)))
    return out.view_as(state)


def torch_inference(cell, g, steps: int, batch: int, path: str):
    prop = NCAPropagator(NCAConfig(steps=steps, path=path), g, cell).eval()
    s = torch.randn(batch, g.num_cells, cell.channels) * 0.1

    def run():
        with torch.no_grad():
            prop(s)

    return run, batch * g.num_cells * steps


def torch_train(side: int, steps: int, batch: int):
    g, cells = torch_models(side, steps)
    cell = cells["dense"]
    prop = NCAPropagator(NCAConfig(steps=steps), g, cell).train()
    opt = torch.optim.AdamW(cell.parameters(), lr=1e-3)
    s = torch.randn(batch, g.num_cells, C) * 0.1
    target = torch.randn(batch, g.num_cells, C) * 0.1

    def step():
        opt.zero_grad(set_to_none=True)
        loss = torch.nn.functional.mse_loss(prop(s), target)
        loss.backward()
        opt.step()

    return step


def peak_rss_gib() -> float:
    """This process's peak RSS. VmHWM belongs to the current address space; ``ru_maxrss`` would
    also count the parent's RSS at fork time (Linux carries it across fork + exec)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 2**20  # kB → GiB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def broca_child(scale: float) -> None:
    g = Lattice(LatticeConfig(size=[333, 333, 166], scale_factor=scale))
    torch.manual_seed(0)
    cell = MLPCell(MLPCellConfig(channels=8, hidden=H), g).eval()
    prop = NCAPropagator(NCAConfig(steps=1), g, cell).eval()
    s = torch.randn(1, g.num_cells, 8) * 0.1
    with torch.no_grad():
        planes = prop.chunk_planes_for(s)
        t = time.perf_counter()
        prop(s)
        dt = time.perf_counter() - t
    rss = peak_rss_gib()
    print(json.dumps({"size": list(g.size), "cells": g.num_cells, "step_s": dt, "peak_rss_gib": rss, "chunk_planes": planes}))


def broca(scale: float) -> dict:
    out = subprocess.run([sys.executable, os.path.abspath(__file__), "--broca-child", str(scale)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------------------- JAX
def jax_contestants(race: Race, cells: dict, side: int, steps: int, batches, train_side: int, train_batch: int):
    """Plain-JAX versions (jit; lax.conv, shifted-slice and im2col stencils) and CAX, same weights.

    Adds ``jax/<shape>/b<batch>/<variant>``, ``cax/<shape>/b<batch>`` and ``jaxtrain/<variant>``
    to the race; returns facts (versions, agreement with the PyTorch fast path) or None without JAX.
    """
    try:
        import jax
        import jax.numpy as jnp
        import numpy as np
        from jax import lax
    except ImportError:
        return None
    info: dict = {"jax_version": jax.__version__}
    dense, depth = cells["dense"], cells["depthwise"]
    g = dense.geometry
    w1 = jnp.asarray(dense.fc1.weight.detach().view(H, 27, C).numpy())  # [H, 27, C], k = raster offset
    W1_dhwio = jnp.transpose(w1.reshape(H, 3, 3, 3, C), (1, 2, 3, 4, 0))  # [3,3,3,C,H]
    W1_kch = jnp.transpose(w1, (1, 2, 0))  # [27, C, H]
    b1 = jnp.asarray(dense.fc1.bias.detach().numpy())
    W2 = jnp.asarray(dense.fc2.weight.detach().numpy().T)  # [H, C]
    b2 = jnp.asarray(dense.fc2.bias.detach().numpy())
    dP = jnp.asarray(depth.perceive.detach().view(C * M, 27).numpy())  # [4C, 27], out channel = c·4+m
    dP_dhwio = jnp.transpose(dP.reshape(C * M, 3, 3, 3), (1, 2, 3, 0))[:, :, :, None, :]  # [3,3,3,1,4C]
    dP_kcm = jnp.transpose(dP.reshape(C, M, 27), (2, 0, 1))  # [27, C, M]
    d1w = jnp.asarray(depth.fc1.weight.detach().numpy().T)
    d1b = jnp.asarray(depth.fc1.bias.detach().numpy())
    d2w = jnp.asarray(depth.fc2.weight.detach().numpy().T)
    d2b = jnp.asarray(depth.fc2.bias.detach().numpy())
    dn = ("NDHWC", "DHWIO", "NDHWC")

    def shifts(x):  # x [B,X,Y,Z,C] → 27 shifted views of the zero-padded grid, raster order
        X, Y, Z = x.shape[1:4]
        p = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (1, 1), (0, 0)))
        return [p[:, i : i + X, j : j + Y, k : k + Z] for i in range(3) for j in range(3) for k in range(3)]

    def dense_conv(x, w):
        W1d, bb1, W2_, bb2 = w
        h = lax.conv_general_dilated(x, W1d, (1, 1, 1), "SAME", dimension_numbers=dn) + bb1
        return x + jax.nn.relu(h) @ W2_ + bb2

    def dense_shift(x, w):
        W1k, bb1, W2_, bb2 = w
        h = bb1
        for k, s in enumerate(shifts(x)):
            h = h + s @ W1k[k]
        return x + jax.nn.relu(h) @ W2_ + bb2

    def dense_im2col(x, w):
        W1k, bb1, W2_, bb2 = w
        cols = jnp.concatenate(shifts(x), -1)  # [B,X,Y,Z,27C], (k c) order
        h = cols @ W1k.reshape(27 * C, H) + bb1
        return x + jax.nn.relu(h) @ W2_ + bb2

    def depth_conv(x, w):
        P, a, ab, b_, bb = w
        p = lax.conv_general_dilated(x, P, (1, 1, 1), "SAME", dimension_numbers=dn, feature_group_count=C)
        return x + jax.nn.relu(p @ a + ab) @ b_ + bb

    def depth_shift(x, w):
        P, a, ab, b_, bb = w
        p = 0.0
        for k, s in enumerate(shifts(x)):
            p = p + s[..., :, None] * P[k]  # [B,X,Y,Z,C,M]
        p = p.reshape(x.shape[:4] + (C * M,))
        return x + jax.nn.relu(p @ a + ab) @ b_ + bb

    dense_w = {"conv": (W1_dhwio, b1, W2, b2), "shift": (W1_kch, b1, W2, b2), "im2col": (W1_kch, b1, W2, b2)}
    depth_w = {"conv": (dP_dhwio, d1w, d1b, d2w, d2b), "shift": (dP_kcm, d1w, d1b, d2w, d2b)}
    variants = {"dense": {"conv": dense_conv, "shift": dense_shift, "im2col": dense_im2col},
                "depthwise": {"conv": depth_conv, "shift": depth_shift}}
    weights = {"dense": dense_w, "depthwise": depth_w}

    # correctness against the PyTorch fast path (same weights), one step
    x0 = torch.randn(1, side, side, side, C) * 0.1
    xj = jnp.asarray(x0.numpy())
    info["max_abs_diff_vs_torch"] = {}
    for shape, cell in cells.items():
        with torch.no_grad():
            ref = (x0 + cell.lattice_forward(x0, g)).numpy()
        for name, f in variants[shape].items():
            out = np.asarray(jax.jit(f)(xj, weights[shape][name]))
            info["max_abs_diff_vs_torch"][f"{shape}/{name}"] = float(np.abs(out - ref).max())

    def compiled_rollout(f, x, w):
        run = jax.jit(lambda x, w: lax.fori_loop(0, steps, lambda i, s: f(s, w), x)).lower(x, w).compile()
        return lambda: run(x, w).block_until_ready()

    for shape in variants:
        for batch in batches:
            x = jnp.asarray(np.random.default_rng(0).standard_normal((batch, side, side, side, C), dtype=np.float32) * 0.1)
            for name, f in variants[shape].items():
                race.add(f"jax/{shape}/b{batch}/{name}", compiled_rollout(f, x, weights[shape][name]),
                         batch * side**3 * steps, warmup=0)  # compiled ahead: no warm-up run

    # CAX (flax nnx): ConvPerceive + ResidualUpdate, the library's NCA composition
    try:
        from cax.core.cs import ComplexSystem
        from cax.core.perceive import ConvPerceive
        from cax.core.update import ResidualUpdate
        from flax import nnx

        class CaxNCA(ComplexSystem):
            def __init__(self, perceive, update):
                self.perceive, self.update = perceive, update

            def _step(self, state, input=None, *, sow=False):
                return self.update(state, self.perceive(state), input)

        rngs = nnx.Rngs(0)
        cax_models = {
            "dense": CaxNCA(ConvPerceive(C, H, kernel_size=(3, 3, 3), use_bias=True, activation_fn=jax.nn.relu, rngs=rngs),
                            ResidualUpdate(3, C, H, (), rngs=rngs)),
            "depthwise": CaxNCA(ConvPerceive(C, C * M, kernel_size=(3, 3, 3), feature_group_count=C, rngs=rngs),
                                ResidualUpdate(3, C, C * M, (H,), rngs=rngs)),
        }
        info["cax_params"] = {k: int(sum(p.size for p in jax.tree.leaves(nnx.state(m, nnx.Param)))) for k, m in cax_models.items()}
        for shape, model in cax_models.items():
            for batch in batches:
                x = jnp.zeros((batch, side, side, side, C)) + 0.01
                race.add(f"cax/{shape}/b{batch}", lambda model=model, x=x: model(x, num_steps=steps).block_until_ready(),
                         batch * side**3 * steps)
    except ImportError:
        pass

    # training: train_side³, batch train_batch, T steps, MSE, AdamW — dense, every stencil variant
    try:
        import optax
    except ImportError:
        return info
    xt = jnp.asarray(np.random.default_rng(1).standard_normal((train_batch, train_side, train_side, train_side, C), dtype=np.float32) * 0.1)
    yt = jnp.asarray(np.random.default_rng(2).standard_normal(xt.shape, dtype=np.float32) * 0.1)
    for name, f in variants["dense"].items():
        opt = optax.adamw(1e-3)
        w = dense_w[name]

        def train_step(w, st, f=f, opt=opt):
            def loss_fn(w):
                return jnp.mean((lax.fori_loop(0, steps, lambda i, s: f(s, w), xt) - yt) ** 2)

            loss, grads = jax.value_and_grad(loss_fn)(w)
            upd, st = opt.update(grads, st, w)
            return optax.apply_updates(w, upd), st, loss

        st = opt.init(w)
        compiled = jax.jit(train_step).lower(w, st).compile()
        state = [w, st]

        def one(compiled=compiled, state=state):
            state[0], state[1], loss = compiled(state[0], state[1])
            loss.block_until_ready()

        race.add(f"jaxtrain/{name}", one, 1.0, warmup=0)
    return info


# ---------------------------------------------------------------------------------- main
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="reduced sizes, under a minute")
    ap.add_argument("--no-jax", action="store_true", help="skip the JAX/CAX comparisons")
    ap.add_argument("--broca-child", type=float, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.broca_child is not None:
        return broca_child(args.broca_child)

    q = args.quick
    side, steps, rounds, slow_s = (16, 4, 3, 1.0) if q else (32, 16, 5, 8.0)
    batches = (1, 8)
    naive_side = 4 if q else 8
    train_side, train_batch, train_steps = (8, 8, 4) if q else (16, 8, 16)
    broca_scale = 0.5 if q else 1.0
    log(f"lattice bench: {'quick' if q else 'full'}, torch {torch.__version__}, {THREADS} threads, "
        f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')}, {side}³ C={C} T={steps}, "
        f"medians of {rounds} interleaved rounds (calls slower than {slow_s:g} s: one)")

    g, cells = torch_models(side, steps)
    fused_ok = fused_kernel_status() is None
    depthwise_kernel = "fused C++" if fused_ok else f"folded dense conv (fused kernel unavailable: {fused_kernel_status()})"
    log(f"depthwise fast path: {depthwise_kernel}")
    # naive per-cell loop, one step on a small lattice (dense model), checked against the reference
    gn, cn = torch_models(naive_side, 1)
    s = torch.randn(gn.num_cells, C) * 0.1
    with torch.no_grad():
        t = time.perf_counter()
        naive_out = naive_loop(cn["dense"], gn, s)
        t_naive = time.perf_counter() - t
        ref1 = NCAPropagator(NCAConfig(steps=1, path="reference"), gn, cn["dense"]).eval()(s[None])[0]
    naive = gn.num_cells / t_naive
    log(f"naive per-cell loop ({naive_side}³, one step): {naive:.3g} cell-updates/s "
        f"(max |naive - reference| {float((naive_out - ref1).abs().max()):.1e})")

    s = torch.randn(1, g.num_cells, C) * 0.1
    with torch.no_grad():
        diffs = {k: float((NCAPropagator(NCAConfig(steps=steps, path="fast"), g, c).eval()(s)
                           - NCAPropagator(NCAConfig(steps=steps, path="reference"), g, c).eval()(s)).abs().max())
                 for k, c in cells.items()}
    log(f"max |fast - reference| after T={steps}: {diffs}")

    race = Race(rounds, slow_s)
    matmul_contestants(race)
    race.add("torch/reference/dense/b1", *torch_inference(cells["dense"], g, steps, 1, "reference"))
    for shape, cell in cells.items():
        for batch in batches:
            race.add(f"torch/fast/{shape}/b{batch}", *torch_inference(cell, g, steps, batch, "fast"))
    if fused_ok:  # the previous depthwise fast path (perception folded into one dense conv), same weights
        folded = DepthwiseNCACell(g, channels=C, multiplier=M, hidden=H)
        folded.load_state_dict(cells["depthwise"].state_dict())
        folded.use_fused = False
        race.add("torch/folded/depthwise/b1", *torch_inference(folded, g, steps, 1, "fast"))
    race.add("torchtrain", torch_train(train_side, train_steps, train_batch), 1.0)
    jx = None if args.no_jax else jax_contestants(race, cells, side, steps, batches, train_side, train_batch)
    log(f"racing {len(race.entries)} contestants ...")
    r = race.run()
    for k, v in r.items():
        unit = "GFLOP/s" if k.startswith("gemm") else "steps/s" if "train" in k else "cell-updates/s"
        log(f"  {k:32s} {v:10.4g} {unit}   (runs: {len(race.times[k])})")

    b = broca(broca_scale)
    log(f"broca {b['size']} C=8 single step: {b['step_s']:.2f} s, {b['cells'] / b['step_s']:.3g} cell-updates/s, "
        f"peak RSS {b['peak_rss_gib']:.2f} GiB (chunk_planes {b['chunk_planes']})")

    peak = max(r["gemm/mkl"], r["gemm/onednn"])
    fast = {f"{shape}/b{batch}": r[f"torch/fast/{shape}/b{batch}"] for shape in cells for batch in batches}
    fig = {
        "mode": "quick" if q else "full",
        "threads": THREADS,
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
        "lattice": f"{side}^3",
        "steps": steps,
        "matmul_peak_gflops": peak,
        "matmul_gflops": {"mkl_sgemm": r["gemm/mkl"], "onednn_gemm": r["gemm/onednn"]},
        "naive_cell_updates_per_s": naive,
        "reference_cell_updates_per_s": r["torch/reference/dense/b1"],
        "fast_cell_updates_per_s": fast["dense/b1"],
        "fast": fast,
        "fast_vs_reference": fast["dense/b1"] / r["torch/reference/dense/b1"],
        "fast_vs_naive": fast["dense/b1"] / naive,
        "dense_fraction_of_peak": fast["dense/b1"] * DENSE_FLOP / (peak * 1e9),
        "dense_fraction_of_peak_b8": fast["dense/b8"] * DENSE_FLOP / (peak * 1e9),
        "max_abs_fast_minus_reference": diffs,
        "train_steps_per_s": r["torchtrain"],
        "broca_size": b["size"],
        "broca_step_s": b["step_s"],
        "broca_cell_updates_per_s": b["cells"] / b["step_s"],
        "broca_peak_rss_gib": b["peak_rss_gib"],
        "broca_chunk_planes": b["chunk_planes"],
        "depthwise_kernel": depthwise_kernel,
        "depthwise_fused_vs_folded_b1": (fast["depthwise/b1"] / r["torch/folded/depthwise/b1"]) if fused_ok else None,
        "fast_vs_jax": None,
        "fast_vs_cax": None,
        "train_vs_jax": None,
    }
    if jx is not None:
        cases = list(fast)
        jax_best = {c: max(v for k, v in r.items() if k.startswith(f"jax/{c}/")) for c in cases}
        fig["jax_best"] = jax_best
        fig["jax_variants"] = {k[4:]: v for k, v in r.items() if k.startswith("jax/")}
        fig["fast_vs_jax_per_case"] = {c: fast[c] / jax_best[c] for c in cases}
        fig["fast_vs_jax"] = min(fig["fast_vs_jax_per_case"].values())  # worst case over shape × batch
        fig["jax_max_abs_diff_vs_torch"] = jx["max_abs_diff_vs_torch"]
        if "cax_params" in jx:
            fig["cax"] = {c: r[f"cax/{c}"] for c in cases}
            fig["cax_params"] = jx["cax_params"]
            fig["fast_vs_cax_per_case"] = {c: fast[c] / r[f"cax/{c}"] for c in cases}
            fig["fast_vs_cax"] = min(fig["fast_vs_cax_per_case"].values())
        jt = {k[9:]: v for k, v in r.items() if k.startswith("jaxtrain/")}
        if jt:
            fig["jax_train_steps_per_s"] = jt
            fig["train_vs_jax"] = r["torchtrain"] / max(jt.values())
        log("ratios fast/jax(best): " + ", ".join(f"{k} {v:.2f}" for k, v in fig["fast_vs_jax_per_case"].items()))
        if fig["fast_vs_cax"] is not None:
            log("ratios fast/cax: " + ", ".join(f"{k} {v:.2f}" for k, v in fig["fast_vs_cax_per_case"].items()))
        if fig["train_vs_jax"] is not None:
            log(f"ratio train torch/jax(best): {fig['train_vs_jax']:.2f}")
    log(f"fast/naive {fig['fast_vs_naive']:.0f}, dense at {fig['dense_fraction_of_peak']:.0%} of the GEMM peak "
        f"({peak:.0f} GFLOP/s)")
    print(json.dumps(fig))


if __name__ == "__main__":
    main()
