"""The weight format of the Distill Growing-NCA demo (Mordvintsev et al. 2020), for Growing-NCA-shaped models.

The format, as the article's notebook writes it for its WebGL demo: a JSON list with one object per
dense layer of the update network, in order. Each holds ``in_ch`` and ``out_ch`` (both multiples of 4),
``type`` (``"uint8"``), ``weight_scale`` and ``bias_scale``, and ``data_b64``: base64 of
``(in_ch + 1) · out_ch`` bytes, row-major — ``in_ch`` rows of the weight matrix (input channel by input
channel, ``y = x · W + b``), then one row holding the bias — read by the demo as ``out_ch / 4`` RGBA
texels per row. A value ``v`` of a matrix whose scale is ``s = 2 · max |v|`` is stored as
``round((v / s + 0.5) · 255)`` and read back as ``(q / 255 − 0.5) · s`` (so the error is at most
``s / 510``; an all-zero matrix has scale 0 and reads back as zeros).

The first layer's inputs are the perception of the Distill model: for channels ``c = 0 … C−1``, first
every channel's value, then every channel's Sobel derivative along the image's x (columns, rightwards),
then along its y (rows, downwards), each Sobel kernel divided by 8 — AA's ``growing_nca`` cell with
``perception = "sobel"`` orders its features channel by channel (``c · 3 + j``), so the rows are reordered
here; AA's lattice x is the image's column and y its row, as aa-ca-suite's ``emoji_growth`` lays an
image out. The demo runs RGBA in channels 0–3 (alpha the alive channel, threshold 0.1) and a fire rate
of 0.5; :func:`check` refuses other shapes and notes other settings.

This is an independent implementation from the format's description (not the notebook's code);
:func:`unpack_layer` and :func:`reference_step` (the Distill model's step in numpy, on the image's rows
and columns) read it back, so the tests can compare a decoded step with AA's.
"""
from __future__ import annotations

import base64
from typing import Any

import numpy as np

from aa_core.plugin import UserError

from .step import Exportable


def pack_layer(weight: np.ndarray, bias: np.ndarray) -> dict[str, Any]:
    """One dense layer ``weight [in_ch, out_ch]``, ``bias [out_ch]`` in the demo's uint8 format."""
    weight, bias = np.asarray(weight, dtype=np.float64), np.asarray(bias, dtype=np.float64)
    in_ch, out_ch = weight.shape
    if in_ch % 4 or out_ch % 4 or bias.shape != (out_ch,):
        raise ValueError(f"a layer of the Distill format has in_ch and out_ch divisible by 4 and a bias of out_ch values; "
                         f"got weight {weight.shape}, bias {bias.shape}")

    def quantise(v: np.ndarray) -> tuple[np.ndarray, float]:
        scale = float(2.0 * np.abs(v).max()) if v.size else 0.0
        q = np.full(v.shape, 128.0) if scale == 0.0 else np.round((v / scale + 0.5) * 255.0)
        return np.clip(q, 0, 255).astype(np.uint8), scale

    qw, weight_scale = quantise(weight)
    qb, bias_scale = quantise(bias)
    rows = np.concatenate([qw, qb[None, :]], axis=0)  # [in_ch + 1, out_ch]
    return {"data_b64": base64.b64encode(rows.tobytes(order="C")).decode("ascii"), "in_ch": int(in_ch), "out_ch": int(out_ch),
            "weight_scale": weight_scale, "bias_scale": bias_scale, "type": "uint8"}


def unpack_layer(layer: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """(weight ``[in_ch, out_ch]``, bias ``[out_ch]``) as float32, read back from one layer of the format."""
    in_ch, out_ch = int(layer["in_ch"]), int(layer["out_ch"])
    if layer.get("type", "uint8") != "uint8":
        raise ValueError(f"only the uint8 layers of the Distill format are read here, not {layer.get('type')!r}")
    raw = np.frombuffer(base64.b64decode(layer["data_b64"]), dtype=np.uint8)
    if raw.size != (in_ch + 1) * out_ch:
        raise ValueError(f"data_b64 holds {raw.size} bytes; in_ch = {in_ch}, out_ch = {out_ch} need {(in_ch + 1) * out_ch}")
    rows = raw.reshape(in_ch + 1, out_ch).astype(np.float64) / 255.0 - 0.5
    return ((rows[:in_ch] * float(layer["weight_scale"])).astype(np.float32), (rows[in_ch] * float(layer["bias_scale"])).astype(np.float32))


def check(exp: Exportable) -> list[str]:
    """Refuse (UserError) a model the format cannot hold; return notes on settings the demo hard-codes."""
    cell: Any = exp.propagator.cell
    X, Y, Z = exp.shape
    C = exp.channels
    layers = list(getattr(cell, "layers", []))
    problems = []
    if getattr(cell, "perception", None) != "sobel":
        problems.append(f"the cell must be aa-nca's growing_nca with perception = \"sobel\" (this one is {type(cell).__name__}"
                        + (f" with perception = {cell.perception!r}" if hasattr(cell, "perception") else "") + ")")
    if len(layers) != 2:
        problems.append(f"the update network must have one hidden layer ([cell] hidden = [128] in the article; it has {max(0, len(layers) - 1)})")
    if Z != 1:
        problems.append(f"the lattice must be one z-plane thick (2D; this one is {X}×{Y}×{Z})")
    if C % 4:
        problems.append(f"the channels must be a multiple of 4 (the demo stores 4 per texel; this model has {C})")
    if len(layers) == 2 and layers[0].out_features % 4:
        problems.append(f"the hidden width must be a multiple of 4 (it is {layers[0].out_features})")
    cfg = exp.propagator.config
    if cfg.alive_threshold is None or int(cfg.alive_channel) != 3:
        problems.append("the alive channel must be channel 3 (RGBA first, alpha alive: [propagator] alive_channel = 3, alive_threshold set)")
    if problems:
        raise UserError(f"checkpoint {exp.path}: --format distill holds Growing-NCA-shaped models only (the Distill demo's network): "
                        + "; ".join(problems) + ". Use --format onnx, which exports any nca lattice step")
    notes = []
    if cfg.alive_threshold is not None and abs(float(cfg.alive_threshold) - 0.1) > 1e-9:
        notes.append(f"the demo's alive threshold is 0.1; this model's is {cfg.alive_threshold:g}")
    if abs(exp.fire_rate - 0.5) > 1e-9:
        notes.append(f"the demo's fire rate is 0.5; this model's is {exp.fire_rate:g}")
    if any(exp.propagator.geometry.periodic_axes):
        notes.append("the model was trained on a periodic lattice; the article's model pads with zeros")
    return notes


def layers_of(exp: Exportable) -> list[tuple[np.ndarray, np.ndarray]]:
    """The update network's (weight ``[in, out]``, bias) pairs, the first layer's rows in the demo's perception order."""
    cell: Any = exp.propagator.cell
    C = exp.channels
    first, second = list(cell.layers)
    w1 = first.weight.detach().double().numpy().T  # [3C, H], row c·3 + j
    w1 = w1.reshape(C, 3, -1).transpose(1, 0, 2).reshape(3 * C, -1)  # row j·C + c
    return [(w1, first.bias.detach().double().numpy()), (second.weight.detach().double().numpy().T, second.bias.detach().double().numpy())]


def distill_layers(exp: Exportable) -> tuple[list[dict[str, Any]], list[str]]:
    """(the Distill demo's JSON list of layers, notes on settings the demo does not carry)."""
    notes = check(exp)
    return [pack_layer(w, b) for w, b in layers_of(exp)], notes


def _neighbourhood(img: np.ndarray) -> list[list[np.ndarray]]:
    """``img [H, W, C]`` zero-padded: views ``[i][j]`` of the pixel at row offset i − 1, column offset j − 1."""
    H, W = img.shape[:2]
    p = np.pad(img, ((1, 1), (1, 1), (0, 0)))
    return [[p[i : i + H, j : j + W] for j in range(3)] for i in range(3)]


def reference_step(layers: list[dict[str, Any]] | list[tuple[np.ndarray, np.ndarray]], state: np.ndarray, fire: np.ndarray,
                   alive_threshold: float = 0.1) -> np.ndarray:
    """The Distill model's step on an image state ``[H (rows), W (columns), C]`` with ``fire [H, W]`` (1 =
    update), from the format's layers (or their (weight, bias) pairs, e.g. :func:`layers_of`'s unquantised
    ones): perception (identity, Sobel along columns, Sobel along rows, zero padding), the dense layers with
    ReLU between, the residual update, alpha (channel 3) alive masking."""
    state = state.astype(np.float32)
    smooth, diff = np.array([1.0, 2.0, 1.0]), np.array([-1.0, 0.0, 1.0])
    n = _neighbourhood(state)
    dx = sum(smooth[i] * diff[j] * n[i][j] for i in range(3) for j in range(3)) / 8.0  # along columns
    dy = sum(diff[i] * smooth[j] * n[i][j] for i in range(3) for j in range(3)) / 8.0  # along rows
    h = np.concatenate([state, dx, dy], axis=-1).astype(np.float32)
    decoded = [unpack_layer(layer) if isinstance(layer, dict) else (np.asarray(layer[0], np.float32), np.asarray(layer[1], np.float32))
               for layer in layers]
    for k, (w, b) in enumerate(decoded):
        h = h @ w + b
        if k < len(decoded) - 1:
            h = np.maximum(h, 0.0)

    def alive(x: np.ndarray) -> np.ndarray:
        a = _neighbourhood(x[..., 3:4])
        return np.max([a[i][j] for i in range(3) for j in range(3)], axis=0)[..., 0] > alive_threshold

    pre = alive(state)
    new = state + h * fire[..., None]
    return (new * (pre & alive(new))[..., None]).astype(np.float32)
