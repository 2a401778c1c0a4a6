"""Producing and measuring the reduced (pruned + int8) form of a cell, for CPU inference.

- :func:`prune_linears`: L1 magnitude pruning of every ``nn.Linear`` weight
  (``torch.nn.utils.prune``), made permanent.
- :func:`quantize_int8`: ``torch.ao.quantization.quantize_dynamic`` on ``nn.Linear`` (int8
  weights, activations quantized on the fly; CPU only).
- :func:`reduce_for_inference`: both, on a copy.
- :func:`compact_state` / :func:`load_compact`: a storage format in which pruning really
  saves bytes. Magnitude pruning alone only writes zeros into dense tensors, so a dense
  ``state_dict`` is exactly as large as before; here every Linear weight is stored as a
  1-bit-per-entry nonzero mask plus its nonzero values (int8 for quantized layers), and all
  other tensors as one flat float buffer. It round-trips exactly (tests).
- :func:`saved_bytes`: size of ``torch.save(obj)`` written to a ``BytesIO``.
"""
from __future__ import annotations

import copy
import io
import math
import warnings

import torch
from torch import nn
from torch.ao.nn.quantized.dynamic import Linear as DynamicQLinear
from torch.nn.utils import prune


def prune_linears(module: nn.Module, amount: float) -> nn.Module:
    """Zero the ``amount`` fraction of smallest-magnitude weights of every Linear, in place."""
    for m in module.modules():
        if isinstance(m, nn.Linear):
            prune.l1_unstructured(m, "weight", amount=amount)
            prune.remove(m, "weight")
    return module


def quantize_int8(module: nn.Module) -> nn.Module:
    """A copy with every ``nn.Linear`` replaced by a dynamically quantized int8 Linear."""
    with warnings.catch_warnings():  # torch flags eager-mode quantization as deprecated (torchao is its successor)
        warnings.filterwarnings("ignore", message=".*quantiz.*deprecated", category=UserWarning)
        warnings.filterwarnings("ignore", message="torch.ao.quantization is deprecated", category=DeprecationWarning)
        q = torch.ao.quantization.quantize_dynamic(module, {nn.Linear}, dtype=torch.qint8)
    if hasattr(q, "quantized"):
        q.quantized = True
    return q.eval()


def reduce_for_inference(module: nn.Module, prune_amount: float = 0.5, int8: bool = True) -> nn.Module:
    """A pruned (and int8) copy of ``module`` in eval mode; the original is untouched."""
    m = copy.deepcopy(module).eval()
    if prune_amount > 0:
        prune_linears(m, prune_amount)
    return quantize_int8(m) if int8 else m


def saved_bytes(obj) -> int:
    """Bytes of ``torch.save(obj)``: what storing it actually costs."""
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getbuffer().nbytes


def _pack_bits(mask: torch.Tensor) -> torch.Tensor:
    flat = mask.flatten().to(torch.uint8)
    flat = torch.cat([flat, flat.new_zeros((-flat.numel()) % 8)]).view(-1, 8)
    return (flat * torch.tensor([128, 64, 32, 16, 8, 4, 2, 1], dtype=torch.uint8)).sum(-1, dtype=torch.uint8)


def _unpack_bits(packed: torch.Tensor, numel: int) -> torch.Tensor:
    bits = (packed[:, None] & torch.tensor([128, 64, 32, 16, 8, 4, 2, 1], dtype=torch.uint8)) > 0
    return bits.flatten()[:numel]


def _linears(module: nn.Module):
    return [(n, m) for n, m in module.named_modules() if isinstance(m, (nn.Linear, DynamicQLinear))]


def compact_state(module: nn.Module, sparse: bool = True) -> dict:
    """Every Linear weight as (mask bits, nonzero values) when ``sparse``, else dense; the
    rest of the state dict in one flat float32 buffer. int8 layers keep int8 values."""
    meta: list[tuple] = []  # ("linear", name, kind, shape, int8 scale/zero point, has bias, kept) or ("tensor", key, dtype, shape)
    masks: list[torch.Tensor] = []
    ints: list[torch.Tensor] = []
    floats: list[torch.Tensor] = []
    linear_names = set()
    for name, m in _linears(module):
        linear_names.add(name)
        if isinstance(m, DynamicQLinear):
            qw = m.weight()
            if qw.qscheme() not in (torch.per_tensor_affine, torch.per_tensor_symmetric):
                raise ValueError(f"{name}: only per-tensor int8 weights are supported, got {qw.qscheme()}")
            w, kind, extra = qw.int_repr(), "int8", (qw.q_scale(), qw.q_zero_point())
            bias = m.bias()
        else:
            w, kind, extra, bias = m.weight.detach(), "float", None, m.bias
        keep = (w != 0) if sparse else torch.ones_like(w, dtype=torch.bool)
        if sparse:
            masks.append(_pack_bits(keep))
        (ints if kind == "int8" else floats).append(w[keep].flatten().float() if kind == "float" else w[keep].flatten())
        if bias is not None:
            floats.append(bias.detach().float().flatten())
        meta.append(("linear", name, kind, tuple(w.shape), extra, bias is not None, int(keep.sum())))
    for key, t in module.state_dict().items():
        if key.rpartition(".")[0].rpartition("._packed_params")[0] in linear_names or key.rpartition(".")[0] in linear_names:
            continue  # stored above
        if isinstance(t, torch.Tensor) and t.is_floating_point():
            floats.append(t.detach().float().flatten())
            meta.append(("tensor", key, str(t.dtype), tuple(t.shape)))
    cat = lambda xs, dt: torch.cat(xs) if xs else torch.zeros(0, dtype=dt)  # noqa: E731
    return {"sparse": sparse, "meta": meta, "mask": cat(masks, torch.uint8), "int8": cat(ints, torch.int8), "float": cat(floats, torch.float32)}


def load_compact(module: nn.Module, state: dict) -> nn.Module:
    """Restore :func:`compact_state` output into a module of the same structure, in place."""
    linears = dict(_linears(module))
    pos = {"mask": 0, "int8": 0, "float": 0}

    def take(buf: str, n: int) -> torch.Tensor:
        out = state[buf][pos[buf] : pos[buf] + n]
        pos[buf] += n
        return out

    dense = {}
    with torch.no_grad():
        for entry in state["meta"]:
            if entry[0] == "tensor":
                _, key, dtype, shape = entry
                dense[key] = take("float", math.prod(shape)).view(shape).to(getattr(torch, dtype.split(".")[-1]))
                continue
            _, name, kind, shape, extra, has_bias, nnz = entry
            numel = math.prod(shape)
            mask = _unpack_bits(take("mask", (numel + 7) // 8), numel) if state["sparse"] else torch.ones(numel, dtype=torch.bool)
            dt = torch.int8 if kind == "int8" else torch.float32
            w = torch.zeros(numel, dtype=dt)
            w[mask] = take(kind if kind == "int8" else "float", nnz).to(dt)
            w = w.view(shape)
            bias = take("float", shape[0]) if has_bias else None
            m = linears[name]
            if kind == "int8":
                with warnings.catch_warnings():
                    warnings.filterwarnings("ignore", message=".*quantiz.*deprecated", category=UserWarning)
                    qw = torch._make_per_tensor_quantized_tensor(w, extra[0], extra[1])
                m.set_weight_bias(qw, bias)
            else:
                m.weight.copy_(w)
                if bias is not None:
                    m.bias.copy_(bias)
        for key, value in dense.items():  # not load_state_dict: quantized Linears insist on their own keys
            owner, _, attr = key.rpartition(".")
            getattr(module.get_submodule(owner) if owner else module, attr).copy_(value)
    return module
