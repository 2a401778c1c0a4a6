"""The non-finite guard: a NaN/inf loss, gradient, update or weight never reaches a checkpoint."""
from __future__ import annotations

from typing import Any

import torch

from .._errors import UserError
from .state import Progress

ADVICE = "Lower train.lr, keep train.grad_clip > 0, or check the task's loss for a division by zero"


def step_allowed(loss: torch.Tensor, model: torch.nn.Module, opt: Any, sched: Any, cfg: Any, where: str, p: Progress) -> bool:
    """True to take the step. A NaN/inf loss or gradient stops the run (``train.nonfinite = "stop"``)
    or skips the batch and halves the learning rate for every following step (``"skip"``: the
    schedule's base rates too, or its next step would restore the old rate). Under fp16 the gradient
    scaler handles overflowing gradients itself (it skips the step and lowers the scale)."""
    grads_ok = cfg.precision == "fp16" or all(bool(torch.isfinite(q.grad).all()) for q in model.parameters() if q.grad is not None)
    if bool(torch.isfinite(loss)) and grads_ok:
        return True
    what = "loss" if not bool(torch.isfinite(loss)) else "gradient"
    if cfg.nonfinite == "stop":
        raise UserError(f"non-finite {what} (NaN/inf) at {where}; training stopped and no checkpoint with non-finite weights "
                        f'was written. {ADVICE}, or set train.nonfinite = "skip" to skip such batches and back off the learning rate')
    for group in opt.param_groups:
        group["lr"] *= 0.5
        if "initial_lr" in group:
            group["initial_lr"] *= 0.5
    if isinstance(getattr(sched, "base_lrs", None), list):  # LambdaLR & co. compute lr = base_lr · factor(step)
        sched.base_lrs = [lr * 0.5 for lr in sched.base_lrs]
    p.skipped_batches += 1
    print(f"warning: non-finite {what} at {where}: batch skipped, learning rate halved", flush=True)
    return False


def nonfinite_weights(model: torch.nn.Module) -> list[str]:
    """Names of the parameters and buffers holding NaN/inf."""
    named = list(model.named_parameters()) + [(n, b) for n, b in model.named_buffers() if b.is_floating_point()]
    return [n for n, t in named if not bool(torch.isfinite(t).all())]


def check_weights(model: torch.nn.Module, where: str) -> None:
    """Stop (exit 2) when the weights became non-finite, whatever ``train.nonfinite`` says: skipping
    batches cannot repair them, and a report or an answer computed from them would be meaningless."""
    bad = nonfinite_weights(model)
    if bad:
        raise UserError(f"the weights became non-finite (NaN/inf) at {where} ({', '.join(bad[:4])}{' …' if len(bad) > 4 else ''}); "
                        f"training stopped and no checkpoint with non-finite weights was written. {ADVICE}")


def check_update(exc: RuntimeError, where: str) -> UserError:
    """Adam's step overflowing float32 (a huge learning rate) as a clear error; other errors are re-raised by the caller."""
    return UserError(f"non-finite update at {where} ({exc}); training stopped and no checkpoint with non-finite weights was written. "
                     "Lower train.lr")
