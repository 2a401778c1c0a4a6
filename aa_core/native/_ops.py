"""Helpers for writing a native kernel's ``torch.library.custom_op`` (see :mod:`aa_core.native`)."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch

from ._build import load_library


def kernel_ready(name: str, sources: Sequence[Any], signatures: dict[str, Any] | None = None) -> Callable[[], bool]:
    """A no-argument ``ready()`` that loads library ``name`` on its first call (building it if need be) and
    says whether it is there. ``torch.compile`` treats its result as a constant (it runs once, at trace
    time), so a kernel user's ``if ready():`` branch never breaks the graph."""

    @torch.compiler.assume_constant_result
    def ready() -> bool:
        return load_library(name, sources, signatures) is not None

    ready.__name__ = ready.__qualname__ = f"ready_{name}"
    return ready


def autograd_op(op: Any, backward: Callable[..., Any], setup_context: Callable[..., None]) -> Callable[..., Any]:
    """Register ``backward`` (with ``setup_context``) as custom op ``op``'s autograd formula and return the
    callable a kernel user calls: under ``torch.compile`` the op itself (AOTAutograd uses the registered
    formula), in eager mode a ``torch.autograd.Function`` in the ``setup_context`` style around it, which
    ``torch.func``'s transforms accept (torch 2.13's own ``register_autograd`` wrapper has no
    ``setup_context``, so ``torch.func.grad`` rejects a bare custom op: pytorch/pytorch#170834). Both run
    the same ``setup_context`` and ``backward``; a backward should call the other ops through their
    callables too (then gradients of gradients work under ``torch.func`` as well)."""
    op.register_autograd(backward, setup_context=setup_context)
    kernel = getattr(op, "_init_fn", None)  # the op's own Python implementation (torch 2.13's CustomOpDef)

    def direct(args: tuple[Any, ...]) -> Any:
        """The op's implementation called as a function when nothing needs the dispatcher: plain CPU tensors,
        no functorch transform, no dispatch mode (a fake or meta trace, a FLOP counter), no jit trace. That saves the
        dispatcher's Python round trip, several times a small kernel's own cost."""
        if (kernel is None or torch._C._are_functorch_transforms_active() or torch._C._len_torch_dispatch_stack()
                or torch._C._get_tracing_state() is not None):
            return op(*args)
        for a in args:
            if isinstance(a, torch.Tensor) and (type(a) is not torch.Tensor or a.device.type != "cpu"):
                return op(*args)
        return kernel(*args)

    class Function(torch.autograd.Function):
        generate_vmap_rule = True  # vmap runs forward and backward under vmap: the ops' own vmap rules

        @staticmethod
        def forward(*args: Any) -> Any:
            return direct(args)

        @staticmethod
        def setup_context(ctx: Any, inputs: tuple[Any, ...], output: Any) -> None:
            setup_context(ctx, inputs, output)

        @staticmethod
        def backward(ctx: Any, *grads: Any) -> Any:
            return backward(ctx, *grads)

    name = str(getattr(op, "_qualname", getattr(op, "__name__", "op"))).replace("::", "_")
    Function.__name__ = Function.__qualname__ = f"{name}_function"

    def call(*args: Any) -> Any:
        if torch.compiler.is_compiling():
            return op(*args)
        if not torch.is_grad_enabled() or not any(isinstance(a, torch.Tensor) and a.requires_grad for a in args):
            return direct(args)  # no graph to record (inference, or a backward without create_graph)
        return Function.apply(*args)

    call.__name__ = call.__qualname__ = name
    call.__doc__ = getattr(op, "__doc__", None)
    return call


def register_batch_vmap(op: Any, batch_args: Sequence[int]) -> None:
    """A ``torch.vmap`` rule for custom op ``op`` whose tensor arguments ``batch_args`` carry a leading batch
    dimension that the output shares (a lattice op: ``[B, X, Y, Z, C]`` in, ``[B, …]`` out): when only those
    are vmapped the vmapped dimension is folded into the batch (one kernel call); otherwise the op runs once
    per vmapped slice. An op whose output has no such batch dimension passes ``batch_args=()`` (always a loop)."""
    batch = tuple(batch_args)

    def rule(info: Any, in_dims: tuple[int | None, ...], *args: Any) -> tuple[torch.Tensor, int]:
        V = info.batch_size
        mapped = {i for i, d in enumerate(in_dims) if isinstance(d, int)}  # a list argument's in_dim is a list of Nones
        if batch and mapped <= set(batch):
            folded = list(args)
            B = None
            for i in batch:
                x = args[i]
                x = x.movedim(in_dims[i], 0) if i in mapped else x.unsqueeze(0).expand(V, *x.shape)
                B = x.shape[1]
                folded[i] = x.reshape(V * B, *x.shape[2:])
            out = op(*folded)
            return out.view(V, -1, *out.shape[1:]), 0
        outs = [op(*(a.select(in_dims[i], v) if i in mapped else a for i, a in enumerate(args))) for v in range(V)]
        return torch.stack(outs), 0

    torch.library.register_vmap(op, rule)
