"""The live page: served by ``aa serve`` at /live (its assets from this package), or one self-contained HTML file.

The page (``web/live.html``, ``web/live.js``, ``web/live.css``) loads the model's description and its
exported ONNX step into onnxruntime-web (``web/vendor``: the npm package's wasm build, vendored by
``scripts/vendor_web.py``) and runs it: grows from the seed, erases a disk where it is clicked or
dragged, regrows; play/pause, speed, reset; RGBA lattices (the emoji) in colour, class lattices (voxel
structures) as z-slices and a rotating three.js voxel view. :func:`html_file` inlines everything — the
script, the runtime (the wasm as base64 of its gzip), three.js for 3D models, the model — so the file
runs from ``file://`` with no network.
"""
from __future__ import annotations

import base64
import json
from importlib import resources
from typing import Any

VENDOR_FILES = ("ort.wasm.bundle.min.mjs", "ort-wasm-simd-threaded.wasm.gz", "three.min.mjs")
ASSETS = {  # what /live/assets/ serves: name → media type
    "live.js": "text/javascript", "live.css": "text/css", "ort.wasm.bundle.min.mjs": "text/javascript",
    "ort-wasm-simd-threaded.wasm.gz": "application/gzip", "three.min.mjs": "text/javascript",
}


def asset(name: str) -> bytes:
    """The bytes of a page file (``live.js``, ``live.css``, ``live.html``) or a vendored runtime file."""
    web = resources.files("aa_export") / "web"
    path = web / "vendor" / name if name in VENDOR_FILES else web / name
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise FileNotFoundError(f"aa-export's page file {name} is missing from the installed package (reinstall aa-export; "
                                "in a checkout, python scripts/vendor_web.py --check says what is wrong)") from None


def _script_text(text: str) -> str:
    """Text that may stand inside a <script> element (no early end tag)."""
    return text.replace("</", "<\\/")


def _fill(title: str, config: dict[str, Any], style: str, inline: str, script: str) -> str:
    html = asset("live.html").decode("utf-8")
    for key, value in (("{{TITLE}}", title.replace("<", "&lt;")), ("{{STYLE}}", style), ("{{CONFIG}}", _script_text(json.dumps(config))),
                       ("{{INLINE}}", inline), ("{{SCRIPT}}", script)):
        html = html.replace(key, value)
    return html


def served_html(title: str, model_query: str, prefix: str = "/live") -> str:
    """The /live page of ``aa serve``: it reads the model and the runtime from the service (``model_query``: ``?model=ID`` or '')."""
    config = {"inline": False, "model": f"{prefix}/model.json{model_query}", "onnx": f"{prefix}/model.onnx{model_query}",
              "assets": f"{prefix}/assets/"}
    return _fill(title, config, f'<link rel="stylesheet" href="{prefix}/assets/live.css">', "",
                 f'<script type="module" src="{prefix}/assets/live.js"></script>')


def html_file(description: dict[str, Any], onnx: bytes) -> str:
    """One HTML file holding the page, the runtime and the model (runs from file://)."""
    def b64(element: str, data: bytes) -> str:
        return f'<script type="text/plain" id="{element}">{base64.b64encode(data).decode("ascii")}</script>'

    X, Y, Z = description["shape"]
    parts = [f'<script type="application/json" id="aa-model">{_script_text(json.dumps(description))}</script>',
             b64("aa-onnx", onnx), b64("aa-ort", asset("ort.wasm.bundle.min.mjs")), b64("aa-wasm", asset("ort-wasm-simd-threaded.wasm.gz"))]
    if Z > 1:
        parts.append(b64("aa-three", asset("three.min.mjs")))
    style = f"<style>\n{asset('live.css').decode('utf-8')}</style>"
    script = f'<script type="module">\n{_script_text(asset("live.js").decode("utf-8"))}</script>'
    return _fill(description["name"], {"inline": True}, style, "\n".join(parts), script)
