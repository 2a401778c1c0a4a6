"""Peak-memory estimates (fp32) for `aa check` and before a task allocates, and the memory available.

Training (a whole-process peak, to compare with peak RSS): ``RUNTIME_BYTES`` for the interpreter
and torch, the parameters in ``PARAM_COPIES_STEP`` copies (weights, gradients, two AdamW moments,
the best epoch's weights) plus the activations autograd keeps for backward, counted by running
one training forward of the meta-device model at the real batch size with a saved-tensors hook
(any cell or propagator, no memory allocated), plus one step's temporaries during backward
(``TRANSIENT_STEPS``); or, when more, the ``PARAM_COPIES_SAVE`` copies alive while an epoch's
checkpoint and optimizer state are serialised. Without a meta model (or if the trace fails) the
activations come from a per-cell formula: the reference gather ``[B, N, K, C]`` or the fast
path's hidden ``[B, N, H]`` for every step. Inference: parameters, the state in and out and one
step's working tensors (one slab of ``chunk_planes`` planes when chunked). The factors were
calibrated against the peak RSS of real `aa run` training processes (bench/memory_estimate.py).
A component may define ``memory_estimate(batch, training)`` for its own figure.
"""
from __future__ import annotations

import os
import resource
from pathlib import Path
from typing import Any

BYTES = 4  # fp32
RUNTIME_BYTES = 330 << 20  # torch, aa_core and the first training step of a 4³ model (kernels, autograd): 328 MiB measured
PARAM_COPIES_STEP = 5  # weights, gradients, AdamW exp_avg and exp_avg_sq, the best epoch's state_dict copy
PARAM_COPIES_SAVE = 9  # at an epoch's checkpoint: the above minus nothing, plus clones and serialisation buffers
TRANSIENT_STEPS = 1.0  # backward holds about one step's worth of temporaries beside the saved tensors (calibrated)
TRAINING_SLACK = 1.5  # formula fallback only: autograd keeps more temporaries per step than the two tensors counted
MEMORY_MARGIN = 0.85  # `aa run` / `aa check` refuse an estimate above this fraction of the memory available


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


def training_bytes(model: Any, ctx: Any, batch: int, settings: Any = None) -> int:
    """Peak resident memory of a training process, apart from what its data keep resident (a teacher):
    the runtime, the parameters in ``PARAM_COPIES_STEP`` copies plus the activations of one step at
    ``batch`` samples (with backward's temporaries), or their ``PARAM_COPIES_SAVE`` copies while a
    checkpoint is saved if more.
    ``settings`` (the task's training section) lets the trace run the model's own ``training_loss``."""
    if hasattr(model, "memory_estimate"):
        return int(model.memory_estimate(batch, True))
    params = BYTES * sum(p.numel() for p in model.parameters())
    acts = activation_bytes(model, ctx, batch, settings)
    return int(RUNTIME_BYTES + max(PARAM_COPIES_STEP * params + acts, PARAM_COPIES_SAVE * params))


def activation_bytes(model: Any, ctx: Any, batch: int, settings: Any = None) -> int:
    """Peak activation bytes of one training step at ``batch``: what autograd saves for backward
    (traced on the meta device) plus ``TRANSIENT_STEPS`` steps' worth of backward temporaries.

    One step's worth is the trace divided by the steps it ran (counted at the propagator's
    ``step_grid``: a pipeline may run more steps than the propagator's own ``steps``). With
    gradient checkpointing the backward pass recomputes one step at a time and holds that step's
    activations (a cell's own, e.g. attention's, included), so that figure comes from a second
    trace with checkpointing off."""
    _n, _c, _work, steps, ckpt, _planes = _lattice_terms(ctx)
    saved, calls = _traced(model, ctx, batch, settings, checkpointing=None)
    if saved is None:
        return _formula_activation_bytes(ctx, batch)
    full, calls = _traced(model, ctx, batch, settings, checkpointing=False) if ckpt else (saved, calls)
    if full is None:
        per_step = _formula_activation_bytes(ctx, batch, checkpointing=False) / max(steps, 1)
    else:
        per_step = full / (calls or max(steps, 1))
    return int(saved + TRANSIENT_STEPS * per_step)


def _traced(model: Any, ctx: Any, batch: int, settings: Any, checkpointing: bool | None) -> tuple[int | None, int]:
    """(:func:`saved_tensor_bytes`, the propagator steps the trace ran), with the propagator's
    gradient checkpointing set to ``checkpointing`` for the trace (None: as configured)."""
    prop = ctx.built.get("propagator")
    cfg: Any = getattr(prop, "config", None)
    step = getattr(prop, "step_grid", None)
    if step is None or (checkpointing is not None and cfg is None):
        return saved_tensor_bytes(model, batch, settings), 0
    calls = 0

    def counted(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        return step(*args, **kwargs)

    before = getattr(cfg, "gradient_checkpointing", None)
    if checkpointing is not None:
        cfg.gradient_checkpointing = checkpointing
    prop.step_grid = counted  # an instance attribute: shadows the method during the trace
    try:
        return saved_tensor_bytes(model, batch, settings), calls
    finally:
        del prop.step_grid
        if checkpointing is not None:
            cfg.gradient_checkpointing = before


def _formula_activation_bytes(ctx: Any, batch: int, checkpointing: bool | None = None) -> int:
    """Fallback when the model cannot be traced: two tensors per cell and step (the state and the working tensor)."""
    n, c, work, steps, ckpt, _planes = _lattice_terms(ctx)
    if not n:
        return 0
    ckpt = ckpt if checkpointing is None else checkpointing
    per_step = n * (2 * c + work)
    acts = batch * (steps * n * c + per_step) if ckpt else batch * steps * per_step
    return int(BYTES * TRAINING_SLACK * acts)


def saved_tensor_bytes(model: Any, batch: int, settings: Any = None) -> int | None:
    """Bytes of the tensors autograd keeps for backward in one training forward of a model on the
    meta device at ``batch`` samples (shared storage counted once, parameters and buffers not at all),
    or None when the model is not on the meta device, has no ``example_batch`` or cannot run there."""
    import torch

    params = list(model.parameters())
    if not params or any(p.device.type != "meta" for p in params) or not hasattr(model, "example_batch"):
        return None
    seen: dict[int, int] = {}
    moved: list[tuple[Any, str, Any]] = []  # buffers left on the CPU by the meta build (index tensors), put back after
    was_training = model.training
    try:
        for module in model.modules():
            for name, buf in list(module._buffers.items()):
                if buf is not None and buf.device.type != "meta":
                    moved.append((module, name, buf))
                    module._buffers[name] = buf.to("meta")
        own = {t.untyped_storage()._cdata for t in [*params, *model.buffers()]}

        def pack(t: torch.Tensor) -> torch.Tensor:
            storage = t.untyped_storage()
            if storage._cdata not in own:
                seen.setdefault(storage._cdata, storage.nbytes())
            return t

        example = model.example_batch(batch, torch.Generator().manual_seed(0))
        example = {k: v.to("meta") if isinstance(v, torch.Tensor) else v for k, v in example.items()}
        model.train()
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t), torch.enable_grad(), _meta_nonzero():
            if settings is not None and hasattr(model, "training_loss"):
                model.training_loss(example, settings)
            else:
                model(example["inputs"])
    except Exception:  # noqa: BLE001 - an op without a meta kernel, a data-dependent branch: use the formula
        return None
    finally:
        for module, name, buf in moved:
            module._buffers[name] = buf
        model.train(was_training)
    return sum(seen.values())


def _meta_nonzero() -> Any:
    """``nonzero`` has no meta kernel (its size depends on the data): during the trace it returns every
    element, so a masked update (the growing_nca cell's ``lattice_forward_at``, native kernel included)
    is counted as if every cell were updated (an upper bound: fire masks and reach not counted)."""
    import contextlib

    try:
        import torch.fx.experimental._config as fx_config

        return fx_config.patch(meta_nonzero_assume_all_nonzero=True)  # type: ignore[attr-defined]  # installed by install_config_module
    except (ImportError, AttributeError, AssertionError, KeyError):  # a torch without the switch: the formula
        return contextlib.nullcontext()


def fits(need: int, available: int) -> bool:
    """Whether an estimate leaves the margin: at most ``MEMORY_MARGIN`` of what is available."""
    return need <= MEMORY_MARGIN * available


def available_bytes() -> int:
    """Memory this process may hold at its peak: its resident set now plus the least of MemAvailable,
    the cgroup's headroom and what RLIMIT_AS leaves of the address space (the estimates are whole-process peaks)."""
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
        limits.append(soft - _status("VmSize"))
    return max(0, min(limits)) + _status("VmRSS") if limits else 1 << 62


def _status(field: str) -> int:
    """A /proc/self/status figure in bytes (VmRSS, VmSize, VmHWM), 0 where unreadable."""
    try:
        for line in Path(f"/proc/{os.getpid()}/status").read_text().splitlines():
            if line.startswith(field + ":"):
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
