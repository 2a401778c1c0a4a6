"""The lattice step as an ONNX graph, and the check that onnxruntime runs it as AA does.

The graph (opset 18, static shape, written by torch.export's ONNX exporter from :class:`aa_export.step.LatticeStep`)
has two inputs, ``state`` ``[1, X, Y, Z, C]`` and ``fire`` ``[1, X, Y, Z, 1]`` (float, 1 where a cell updates),
and one output, ``next``, in the lattice's raster layout (cell ``(x, y, z)`` at ``(x·Y + y)·Z + z``,
channels last). The model's description (:meth:`aa_export.step.Exportable.description`) rides along
as the metadata entry ``aa.live`` (JSON).
"""
from __future__ import annotations

import contextlib
import io
import json
import logging
import warnings
from typing import Any

import numpy as np
import torch

from aa_core.plugin import UserError

from .step import Exportable, aa_steps, fire_masks, kernels_off

OPSET = 18
VERIFY_STEPS = 16  # steps `aa export` compares before writing
VERIFY_TOLERANCE = 1e-4  # max abs difference accepted by `aa export` (the tests hold 1e-5 over 64 steps)


def onnx_bytes(exp: Exportable) -> bytes:
    """The serialized ONNX model of ``exp``'s step (its description in the metadata ``aa.live``)."""
    step = exp.step()
    X, Y, Z = exp.shape
    state, fire = exp.seed(), torch.ones(1, X, Y, Z, 1)
    quiet = logging.getLogger("torch.onnx")  # the exporter logs what it skips (torchvision's operators) as warnings
    level = quiet.level
    try:
        quiet.setLevel(logging.ERROR)
        with torch.no_grad(), kernels_off(step), contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            program: Any = torch.onnx.export(step, (state, fire), dynamo=True, opset_version=OPSET, input_names=["state", "fire"],
                                             output_names=["next"], external_data=False, optimize=True, verbose=False)
    except Exception as exc:  # the exporter's own errors (an operation torch.export cannot trace, a missing onnxscript)
        raise UserError(f"checkpoint {exp.path}: its step cannot be exported to ONNX ({type(exc).__name__}: {str(exc).splitlines()[0][:400]}); "
                        f"the cell {type(exp.propagator.cell).__name__} must run on plain PyTorch operations that torch.export traces") from None
    finally:
        quiet.setLevel(level)
    proto = program.model_proto
    entry = proto.metadata_props.add()
    entry.key, entry.value = "aa.live", json.dumps(exp.description())
    proto.producer_name = "aa-export"
    return bytes(proto.SerializeToString())


def session(model: bytes, threads: int = 1) -> Any:
    """An onnxruntime CPU session of ``model`` on ``threads`` threads."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])


def ort_steps(sess: Any, state: torch.Tensor, masks: list[torch.Tensor]) -> list[np.ndarray]:
    """The exported step run by onnxruntime from ``state``, one call per mask: every state after a step."""
    x = state.numpy().astype(np.float32)
    out = []
    for m in masks:
        x = sess.run(["next"], {"state": x, "fire": m.numpy().astype(np.float32)})[0]
        out.append(x)
    return out


def compare(exp: Exportable, model: bytes, steps: int, seed: int = 0) -> float:
    """Max abs difference between AA's own stochastic roll-out (``steps`` steps from the seed after
    ``torch.manual_seed(seed)``) and the exported step run by onnxruntime with the same fire masks."""
    start = exp.seed()
    ours = aa_steps(exp, start, steps, seed)
    theirs = ort_steps(session(model), start, fire_masks(exp.shape, exp.fire_rate, steps, seed))
    return max(float(np.abs(a.numpy() - b).max()) for a, b in zip(ours, theirs))


def export(exp: Exportable, verify_steps: int = VERIFY_STEPS) -> tuple[bytes, float]:
    """(the ONNX model, the max abs difference to AA's step over ``verify_steps`` steps); a difference above
    :data:`VERIFY_TOLERANCE` is an error (the graph does not compute AA's step: a bug to report)."""
    model = onnx_bytes(exp)
    diff = compare(exp, model, verify_steps) if verify_steps else 0.0
    if not diff <= VERIFY_TOLERANCE:
        raise RuntimeError(f"the exported step of {exp.path} differs from AA's by {diff:.3g} (> {VERIFY_TOLERANCE:g}) over "
                           f"{verify_steps} steps with the same fire masks: the exported graph is wrong (a bug in aa-export)")
    return model, diff
