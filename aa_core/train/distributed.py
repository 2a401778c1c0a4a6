"""Rank-aware helpers of the training loop (data-parallel training under ``torchrun``).

``torchrun --nproc-per-node N -m aa_core.cli run spec.toml`` (or ``aa run --nproc N``) starts N
processes with ``RANK`` / ``WORLD_SIZE`` / ``MASTER_ADDR`` set; :func:`init` joins them into one
process group (gloo on CPU, nccl on CUDA). Every rank builds the same model from the same
seed, reads the same data in the same shuffled order and takes its share of each global batch
(:func:`share`); DistributedDataParallel averages the gradients, and each rank's loss is scaled
by its share so that the average is the gradient of the global batch's mean loss — the same
step as one process. Only rank 0 writes checkpoints and reports.

A model whose propagator is lattice-parallel (``nca_parallel``: its slabs are spread over the
ranks) is not data-parallel: every rank then takes the whole batch (:func:`data_parallel`
is false) and the propagator sums its own gradients over the ranks.
"""
from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar

import torch
import torch.distributed as dist
from torch import nn

from .._errors import UserError
from ..protocols import LatticeParallelPropagator

T = TypeVar("T")


def launched() -> bool:
    """True inside a multi-process launch (torchrun sets ``WORLD_SIZE``)."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def init(device: torch.device) -> bool:
    """Join the launch's process group once (no-op outside torchrun); True when running distributed."""
    if dist.is_initialized():
        return dist.get_world_size() > 1
    if not launched():
        return False
    if device.type == "cuda":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    backend = "nccl" if device.type == "cuda" else "gloo"
    dist.init_process_group(backend, timeout=timedelta(minutes=int(os.environ.get("AA_DIST_TIMEOUT_MIN", "30"))))
    return True


def rank() -> int:
    return dist.get_rank() if dist.is_initialized() else 0


def world() -> int:
    return dist.get_world_size() if dist.is_initialized() else 1


def is_main() -> bool:
    return rank() == 0


def data_parallel(model: nn.Module) -> bool:
    """True when the ranks split each batch (several processes, no lattice-parallel module in ``model``)."""
    return world() > 1 and not any(isinstance(m, LatticeParallelPropagator) and m.lattice_parallel for m in model.modules())


def share(idx: torch.Tensor, split: bool = True) -> tuple[torch.Tensor, float]:
    """Positions in the global batch ``idx`` that this rank takes, and its loss scale (local size · world / global size).

    A rank left without samples (a last batch smaller than the world) takes the batch's first
    sample with scale 0: every rank still runs forward and backward, as DDP requires. With
    ``split`` false every rank takes the whole batch."""
    if not split:
        return torch.arange(len(idx), device=idx.device), 1.0
    pos = torch.tensor_split(torch.arange(len(idx), device=idx.device), world())[rank()]
    if len(pos) == 0:
        return pos.new_zeros(1), 0.0
    return pos, len(pos) * world() / len(idx)


def check_batch(batch_size: int, split: bool = True) -> None:
    if split and batch_size < world():
        raise UserError(f"train.batch_size = {batch_size} is smaller than the {world()} processes of this launch; every process "
                        "needs a share of each batch: raise train.batch_size or start fewer processes")


def mean_over_ranks(value: torch.Tensor) -> torch.Tensor:
    """The average of a (scaled) per-rank value over the ranks: with :func:`share`'s scale, the global batch's value."""
    if world() == 1:
        return value
    v = value.detach().clone().float()
    dist.all_reduce(v)
    return v / world()


def any_rank(flag: bool) -> bool:
    """True on every rank when ``flag`` is true on any (e.g. a stop request that reached one process)."""
    if world() == 1:
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=_device())
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item() > 0)


def from_main(make: Callable[[], T]) -> T:
    """``make()`` on rank 0 only, its result sent to every rank (e.g. the teacher embeddings: embed once, share).

    When ``make()`` fails on rank 0, every rank fails with it instead of waiting for a result: a
    :class:`UserError` (e.g. the run folder's lock held by another run) is raised on every rank, any
    other error on rank 0 and ``SystemExit(1)`` on the others."""
    if world() == 1:
        return make()
    box: list[Any] = [None]
    failure: BaseException | None = None
    if is_main():
        try:
            box[0] = ("ok", make())
        except UserError as exc:
            box[0], failure = ("refused", exc), exc
        except Exception as exc:  # noqa: BLE001 - sent on as a failure, raised here below
            box[0], failure = ("failed", f"{type(exc).__name__}: {exc}"), exc
    dist.broadcast_object_list(box, src=0)
    outcome, value = box[0]
    if failure is not None:
        raise failure
    if outcome == "refused":
        raise value
    if outcome == "failed":
        print(f"rank {rank()}: stopped, rank 0 failed ({value})", file=sys.stderr, flush=True)
        raise SystemExit(1)
    return value


def barrier() -> None:
    if world() > 1:
        dist.barrier()


def finish() -> None:
    """Leave the process group (after training: what follows runs on rank 0 alone)."""
    if dist.is_initialized():
        # Let gloo's worker threads release the last collective's tensors first (they need the GIL for that):
        # a process group destroyed, or a DDP reducer freed, while one still waits for the GIL joins it forever.
        time.sleep(0.1)
        dist.destroy_process_group()


def _device() -> torch.device:
    return torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")


class LossModule(nn.Module):
    """``forward(batch)`` = the task's loss of ``model`` on ``batch``, so that DDP sees the training step as a forward."""

    def __init__(self, model: nn.Module, loss: Callable[[nn.Module, dict[str, Any]], torch.Tensor]):
        super().__init__()
        self.model = model
        self._loss = loss

    def forward(self, batch: dict[str, Any]) -> torch.Tensor:
        return self._loss(self.model, batch)


def wrap(model: nn.Module, device: torch.device, loss: Callable[[nn.Module, dict[str, Any]], torch.Tensor]) -> nn.Module:
    """The training step as a module: DistributedDataParallel over :class:`LossModule` when data-parallel."""
    step = LossModule(model, loss)
    if not data_parallel(model):
        return step
    from torch.nn.parallel import DistributedDataParallel

    ids = [device.index] if device.type == "cuda" else None
    # unused parameters allowed: a pipeline may leave some out of a step (e.g. a frozen branch)
    return DistributedDataParallel(step, device_ids=ids, find_unused_parameters=True)
