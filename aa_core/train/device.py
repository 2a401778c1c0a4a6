"""Where and in which precision the training step runs: ``train.device``, ``train.precision``, ``train.compile``.

- ``device = "auto"`` takes CUDA when torch sees a GPU, else the CPU; ``"cuda"`` without a GPU
  is a clear error, not a silent fallback.
- ``precision = "bf16"`` / ``"fp16"`` run the forward pass under ``torch.autocast`` (weights and
  optimizer state stay fp32); fp16 adds a gradient scaler (overflowing steps are skipped and
  the scale lowered, as ``torch.amp.GradScaler`` does). ``"fp32"`` changes nothing.
- ``compile = true`` wraps the training step in ``torch.compile`` (the first steps compile). The
  native kernels are custom ops (:mod:`aa_core.native`), traced as single nodes; data-dependent
  row selections (``nonzero``: the nca propagator's masked update) are captured too
  (``capture_dynamic_output_shape_ops``), so a lattice step is one graph, with no break.
"""
from __future__ import annotations

import contextlib
from typing import Any

import torch

from .._errors import UserError

DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def resolve(name: str) -> torch.device:
    """``auto`` / ``cpu`` / ``cuda`` → the device (under torchrun with CUDA: this process's GPU)."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda":
        if not torch.cuda.is_available():
            raise UserError('train.device = "cuda" but torch sees no CUDA GPU here (a CPU-only torch build or no driver); '
                            'use train.device = "auto" or "cpu"')
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def autocast(device: torch.device, precision: str) -> Any:
    """The forward pass's autocast context for ``precision`` (a no-op for fp32)."""
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=DTYPES[precision])


def scaler(device: torch.device, precision: str) -> torch.amp.GradScaler:
    """A gradient scaler, enabled for fp16 only (disabled: ``scale``/``step`` pass through)."""
    return torch.amp.GradScaler(device.type, enabled=precision == "fp16")


def compiled(step: torch.nn.Module, enabled: bool) -> torch.nn.Module:
    if not enabled:
        return step
    import torch._dynamo

    # read when a frame is traced (not here): the masked update's nonzero stays in the graph
    torch._dynamo.config.capture_dynamic_output_shape_ops = True
    return torch.compile(step)  # type: ignore[return-value]  # an OptimizedModule wraps the module
