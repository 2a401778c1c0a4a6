"""`aa export --checkpoint DIR --format onnx|distill|html [--out FILE]`: a trained lattice model outside Python.

- ``onnx`` — the pipeline's single step (perception + update + alive masks) as an ONNX graph (opset 18,
  static shape): inputs ``state [1, X, Y, Z, C]`` and ``fire [1, X, Y, Z, 1]`` (1 where a cell updates: the
  caller supplies the randomness), output ``next``; the model's description (seed, fire rate, display) in
  its metadata ``aa.live``. Checked before it is written: onnxruntime runs 16 steps from the seed with the
  fire masks AA's own step draws, and the states must agree within 1e-4 (the max difference is printed).
- ``distill`` — the Distill Growing-NCA demo's weight format (each dense layer uint8-quantised, base64 in
  JSON) for Growing-NCA-shaped models (aa_export.distill says which).
- ``html`` — one self-contained page (model, onnxruntime-web's wasm, the script) that runs the model from
  ``file://``: grow, click to erase, regrow.

A pipeline whose step is no local rule (aa-mamba's ``schedule`` with Mamba passes) is refused with exit 2.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

SUFFIX = {"onnx": ".onnx", "distill": "_distill.json", "html": ".html"}


def add_parser(sub: Any) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser("export", help="a trained lattice model's step as ONNX, Distill demo weights or a live HTML page")
    p.add_argument("--checkpoint", required=True, metavar="DIR", help="checkpoint or run folder (a run folder: its best checkpoint)")
    p.add_argument("--format", required=True, choices=sorted(SUFFIX), help="onnx: the step as an ONNX graph; distill: the Distill demo's "
                   "quantised weights; html: one page that runs the model in the browser from file://")
    p.add_argument("--out", metavar="FILE", help="where to write (default: the checkpoint's name with .onnx, _distill.json or .html, here)")
    p.add_argument("--name", help="the model's name on the page (default: the run folder's name)")
    p.add_argument("--verify-steps", type=int, default=16, metavar="N",
                   help="steps compared with AA's own before writing (onnx, html; default 16, 0 skips the check)")
    return p


def main(args: argparse.Namespace) -> int:
    from aa_core.plugin import UserError, atomic_path

    from .step import load

    if args.verify_steps < 0:
        raise UserError(f"--verify-steps {args.verify_steps}: give 0 (no check) or more steps")
    exp = load(args.checkpoint, name=args.name)
    out = Path(args.out) if args.out else Path(exp.name.replace("/", "_") + SUFFIX[args.format])
    if out.is_dir():
        raise UserError(f"--out {out} is a folder; give a file name")
    if not out.parent.exists():
        raise UserError(f"--out {out}: the folder {out.parent} does not exist")
    X, Y, Z = exp.shape
    what = f"{exp.name} ({X}×{Y}×{Z} lattice, {exp.channels} channels, {exp.params:,} parameters)"
    if args.format == "distill":
        from .distill import distill_layers

        layers, notes = distill_layers(exp)
        data = (json.dumps(layers) + "\n").encode("utf-8")
        for note in notes:
            print(f"aa export: note: {note}", file=sys.stderr)
        detail = f"{len(layers)} layers, uint8"
    else:
        from .onnx_step import export

        onnx, diff = export(exp, args.verify_steps)
        checked = f"equal to AA's step within {diff:.2g} over {args.verify_steps} steps" if args.verify_steps else "not checked"
        if args.format == "onnx":
            data, detail = onnx, f"opset 18, {checked}"
        else:
            from .page import html_file

            data = html_file({**exp.description(), "verified_max_abs_diff": diff}, onnx).encode("utf-8")
            detail = f"self-contained: runtime and model inlined; step {checked}"
    with atomic_path(out) as tmp:
        Path(tmp).write_bytes(data)
    print(f"aa export: wrote {out} ({len(data) / 1e6:.2f} MB): {what}; {detail}")
    return 0
