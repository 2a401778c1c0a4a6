"""A rough estimate of the memory one forward pass needs, for `aa check`."""
from __future__ import annotations


def forward_bytes(model, ctx, batch: int = 1) -> int:
    """Parameters plus the largest live activations of one step, in bytes (fp32).

    A component may define ``memory_estimate(batch)`` for a precise figure; otherwise the
    estimate is state in and out, the reference gather ``[B, N, K, C]`` or (fast path) one
    hidden tensor ``[B, N, H]``, and the parameters.
    """
    if hasattr(model, "memory_estimate"):
        return int(model.memory_estimate(batch))
    params = sum(p.numel() for p in model.parameters())
    g, cell = ctx.built.get("geometry"), ctx.built.get("cell")
    if g is None or cell is None:
        return 4 * params
    n, c = g.num_cells, cell.channels
    prop = ctx.built.get("propagator")
    reference = getattr(getattr(prop, "config", None), "path", "fast") == "reference" or not hasattr(cell, "lattice_forward")
    hidden = getattr(getattr(cell, "config", None), "hidden", 4 * c) if hasattr(cell, "config") else 4 * c
    work = n * g.k * c if reference else n * max(hidden, c)
    return 4 * (params + batch * (3 * n * c + work))


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    return f"{n:.1f} TiB"
