"""``aa serve``'s ``/live`` page (aa-serve's ``aa_serve_pages`` hook): a served growth checkpoint running in the browser.

For every served checkpoint whose spec has the ``growth`` pipeline (aa-nca's: the emoji and voxel
growth tasks, or your own growth dataset), the service adds:

- ``GET /live`` (``?model=ID`` picks one of several; ``?seed=N``, ``?stop=N``, ``?speed=S`` are the page's) — the page;
- ``GET /live/model.json`` and ``GET /live/model.onnx`` (``?model=ID``) — the model's description and its
  exported step, made on first request in the model thread and kept (the export is checked against AA's
  step, as ``aa export`` does);
- ``GET /live/assets/{name}`` — the page's script and style and the vendored onnxruntime-web and three.js.

The page runs the model in the browser; the service only hands out files.
"""
# No `from __future__ import annotations`: FastAPI reads the endpoint annotations.
import threading
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Query
from fastapi.responses import HTMLResponse, Response

from .page import ASSETS, asset, served_html

PIPELINES = ("growth",)  # the pipelines whose checkpoints /live shows (torch-free check on the metadata)


def shows(metadata: dict[str, Any]) -> bool:
    """Whether /live shows a checkpoint: its spec's ``[pipeline] name`` is a growth pipeline."""
    spec = metadata.get("spec")
    pipeline = spec.get("pipeline") if isinstance(spec, dict) else None
    return isinstance(pipeline, dict) and pipeline.get("name") in PIPELINES


class LivePage:
    """The ``live`` page (an :class:`aa_serve.ServePageTask`)."""

    def __init__(self) -> None:
        self._exports: dict[str, tuple[bytes, bytes]] = {}
        self._lock = threading.Lock()

    def _export(self, model: Any) -> tuple[bytes, bytes]:
        """(model.json, model.onnx) of a served checkpoint, exported once (in the model thread)."""
        import json

        from .onnx_step import export
        from .step import load

        key = f"{model.id}@{model.version}"
        with self._lock:
            if key not in self._exports:
                exp = load(model.path, name=model.id)
                onnx, diff = export(exp)
                description = {**exp.description(), "version": model.version, "verified_max_abs_diff": diff}
                self._exports[key] = (json.dumps(description).encode("utf-8"), onnx)
            return self._exports[key]

    def register_routes(self, app: FastAPI, host: Any, models: Sequence[Any]) -> list[str]:
        shown = [m for m in models if shows(m.metadata)]
        if not shown:
            return []
        by_id = {m.id: m for m in shown}

        def pick(key: str | None) -> Any:
            if key is None:
                return shown[0]
            if key in by_id:
                return by_id[key]
            raise host.error(404, "unknown_model", f"no growth model '{key}' is served here; /live shows: {', '.join(by_id)}")

        async def exported(key: str | None) -> tuple[bytes, bytes]:
            m = pick(key)
            try:
                return await host.call(self._export, m)
            except Exception as exc:
                if getattr(exc, "status", None):  # the service's own errors (timeout)
                    raise
                message = exc.render() if hasattr(exc, "render") else f"{type(exc).__name__}: {exc}"
                raise host.error(422, "not_exportable", f"model {m.id} cannot run in the browser: {message}") from None

        model_query = Query(None, max_length=200, description="the served model's id (default: the first growth model)")

        @app.get("/live", response_class=HTMLResponse, include_in_schema=True)
        async def live_page(model: str | None = model_query) -> HTMLResponse:
            """The model running in the browser (onnxruntime-web): grow, erase by clicking, regrow."""
            m = pick(model)
            return HTMLResponse(served_html(m.id, f"?model={m.id}" if len(shown) > 1 else ""))

        @app.get("/live/model.json")
        async def live_model(model: str | None = model_query) -> Response:
            """The model's description: lattice, channels, fire rate, seed, display, damage site, parameters."""
            return Response((await exported(model))[0], media_type="application/json")

        @app.get("/live/model.onnx")
        async def live_onnx(model: str | None = model_query) -> Response:
            """The model's step as ONNX (inputs state [1, X, Y, Z, C] and fire [1, X, Y, Z, 1]; output next)."""
            return Response((await exported(model))[1], media_type="application/octet-stream")

        @app.get("/live/assets/{name}")
        async def live_asset(name: str) -> Response:
            """The page's script and style, and the vendored onnxruntime-web and three.js."""
            if name not in ASSETS:
                raise host.error(404, "not_found", f"no asset {name}")
            return Response(asset(name), media_type=ASSETS[name], headers={"Cache-Control": "max-age=3600"})

        return [f"/live shows {', '.join(by_id)} running in the browser"]
