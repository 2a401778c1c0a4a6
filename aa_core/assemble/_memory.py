"""Peak-memory estimates (fp32) for `aa check` and before a task allocates, and the memory available.

The estimates count what dominates on a lattice model: parameters (and, for training, their
gradients and two Adam moments), the state tensors and the per-step working tensors of the
propagator (the reference gather ``[B, N, K, C]`` or the fast path's hidden ``[B, N, H]``) — kept for
every step in a training forward (or only the states, with gradient checkpointing), and one step at
a time for inference (or one slab of ``chunk_planes`` planes when chunked). A component may define
``memory_estimate(batch, training)`` for its own figure.
"""
from __future__ import annotations

import os
import resource
from pathlib import Path
from typing import Any

BYTES = 4  # fp32
TRAINING_SLACK = 1.5  # autograd keeps a few more temporaries per step than the two tensors counted


def _lattice_terms(ctx: Any) -> tuple[int, int, int, int, bool, int | None]:
    """(cells N, channels C, per-cell working width W, steps T, gradient checkpointing, chunk planes)."""
    g, cell, prop = ctx.built.get("geometry"), ctx.built.get("cell"), ctx.built.get("propagator")
    if g is None or cell is None:
        return 0, 0, 0, 0, False, None
    n, c = g.num_cells, cell.channels
    cfg = getattr(prop, "config", None)
    reference = getattr(cfg, "path", "fast") == "reference" or not hasattr(cell, "lattice_forward")
    hidden = getattr(getattr(cell, "config", None), "hidden", None) or 4 * c
    work = g.k * c if reference else max(int(hidden), c)
    steps = int(getattr(prop, "steps", 1) or 1)
    return n, c, work, steps, bool(getattr(cfg, "gradient_checkpointing", False)), getattr(cfg, "chunk_planes", None)


def forward_bytes(model: Any, ctx: Any, batch: int = 1) -> int:
    """Inference peak: parameters, the state in and out and one step's working tensors (one slab when chunked)."""
    if hasattr(model, "memory_estimate"):
        return int(model.memory_estimate(batch, False))
    params = sum(p.numel() for p in model.parameters())
    n, c, work, _steps, _ckpt, planes = _lattice_terms(ctx)
    if n == 0:
        return BYTES * params
    slab = n if not planes else min(n, (planes + 2) * n // ctx.built["geometry"].size[0])
    return BYTES * (params + batch * (3 * n * c + slab * work))


def training_bytes(model: Any, ctx: Any, batch: int) -> int:
    """Training peak: parameters + gradients + Adam moments, and the activations of all T steps for
    ``batch`` samples (only the per-step states plus one step's working tensors with checkpointing)."""
    if hasattr(model, "memory_estimate"):
        return int(model.memory_estimate(batch, True))
    params = sum(p.numel() for p in model.parameters())
    n, c, work, steps, ckpt, _planes = _lattice_terms(ctx)
    acts = 0
    if n:
        per_step = n * (2 * c + work)
        acts = batch * (steps * n * c + per_step) if ckpt else batch * steps * per_step
    return int(BYTES * (4 * params + TRAINING_SLACK * acts))


def available_bytes() -> int:
    """Memory this process may still use: the least of MemAvailable, the cgroup's headroom and RLIMIT_AS."""
    limits = []
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                limits.append(int(line.split()[1]) * 1024)
    except OSError:
        pass
    for cg in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            raw = Path(cg).read_text().strip()
            if raw.isdigit() and int(raw) < 1 << 60:
                used_file = Path(cg).with_name("memory.current" if cg.endswith("max") else "memory.usage_in_bytes")
                used = int(used_file.read_text().strip()) if used_file.is_file() else 0
                limits.append(int(raw) - used)
        except OSError:
            pass
    soft, _hard = resource.getrlimit(resource.RLIMIT_AS)
    if soft != resource.RLIM_INFINITY:
        limits.append(soft - _vm_size())
    return max(0, min(limits)) if limits else 1 << 62


def _vm_size() -> int:
    try:
        for line in Path(f"/proc/{os.getpid()}/status").read_text().splitlines():
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


ADVICE = ("reduce the batch size (train.batch_size), the lattice (geometry.size or geometry.scale_factor) or the channels; "
          "for inference set propagator.chunk_planes; for training set propagator.gradient_checkpointing = true; "
          "or pass --force to try anyway")


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    return f"{n:.1f} TiB"
