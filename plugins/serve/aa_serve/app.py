"""The FastAPI application: the generic routes (models, health, metrics, docs), the model thread, dynamic
batching, limits and JSON errors; each task's handler (the ``aa_serve_handlers`` hook) adds its own routes,
with its own options (``--option NAME=VALUE``, checked here before anything binds)."""
from __future__ import annotations

import asyncio
import contextlib
import sys
import traceback
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi_offline import FastAPIOffline
from starlette.exceptions import HTTPException as StarletteHTTPException

from aa_core.plugin import UserError, did_you_mean

from .api import ServeOption, ServePage, ServeTask
from .batcher import Batcher
from .metrics import Metrics, MetricsMiddleware
from .models import ModelPool, ServedModel
from .safety import GuardMiddleware, error_body
from .schemas import Health, ModelInfo, ModelsOut
from .settings import Settings

ENDPOINTS = {"/v1/models", "/health/live", "/health/ready", "/metrics", "/docs", "/redoc"}  # and every route a handler adds
T = TypeVar("T")
DOCS_ASSETS = "/docs-assets"  # Swagger UI's and ReDoc's files from the fastapi-offline package: /docs and /redoc work offline


class ServiceError(Exception):
    def __init__(self, status: int, code: str, message: str, details: Any = None):
        super().__init__(message)
        self.status, self.code, self.message, self.details = status, code, message, details


def _json_error(status: int, code: str, message: str, details: Any = None, headers: dict | None = None) -> Response:
    return Response(error_body(status, code, message, details), status_code=status, media_type="application/json", headers=headers)


def _load_all(pool: ModelPool, tasks: dict[str, ServeTask], threads: int, metrics: Metrics) -> None:
    """Restore every model in the model thread, through its handler (the warnings it raises are listed in /v1/models)."""
    import warnings

    if threads:
        import torch

        torch.set_num_threads(threads)
    for m in pool.models:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            m.loaded = tasks[m.handler.name].load(m.path, m.metadata)
        m.warnings = [str(w.message) for w in caught if issubclass(w.category, UserWarning)]
        m.status = "ready"
        metrics.ready.labels(m.id).set(1)


def handler_options(tasks: Mapping[str, ServeTask], given: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    """handler name → its options (``ServeTask.options()``): the ``--option`` values ``given``, parsed, or the
    defaults. A name no handler in use declares, or a bad value, is a UserError (exit 2, before binding)."""
    declared: dict[str, list[ServeOption]] = {}
    for name, task in tasks.items():
        fn = getattr(task, "options", None)
        declared[name] = list(fn()) if callable(fn) else []
    every = {o.name: o for opts in declared.values() for o in opts}
    for key in given:
        if key not in every:
            listed = "; ".join(f"{h}: {', '.join(o.describe() for o in opts) or 'none'}" for h, opts in declared.items())
            raise UserError(f"--option {key}: no handler serving these checkpoints has this option{did_you_mean(key, sorted(every))}; "
                            f"their options: {listed}")
    out: dict[str, dict[str, Any]] = {}
    for name, opts in declared.items():
        out[name] = {}
        for o in opts:
            try:
                out[name][o.name] = o.parse(given[o.name]) if o.name in given else o.default
            except ValueError as exc:
                raise UserError(f"--option {o.name}={given[o.name]}: {exc} ({o.describe()})") from None
    return out


class Host:
    """The helpers a handler's routes use (:class:`aa_serve.ServeHost`): find a model, run it batched
    or in the model thread under the request timeout, raise a JSON error; ``options``: the handler's own."""

    def __init__(self, settings: Settings, pool: ModelPool, metrics: Metrics, executor: ThreadPoolExecutor, batchers: dict[str, Batcher],
                 options: Mapping[str, Any] | None = None):
        self.settings, self.registry = settings, metrics.registry
        self.options: Mapping[str, Any] = dict(options or {})
        self._pool, self._executor, self._batchers = pool, executor, batchers
        self._metrics = metrics

    def for_handler(self, options: Mapping[str, Any]) -> Host:
        """The same helpers, with one handler's ``options``."""
        return Host(self.settings, self._pool, self._metrics, self._executor, self._batchers, options)

    def pick(self, key: str | None, handler: str) -> ServedModel:
        mine = [m for m in self._pool.models if m.handler.name == handler]
        m = self._pool.get(key) if key else (mine[0] if mine else None)
        if m is None:
            known = ", ".join(f"{x.id}@{x.version}" for x in self._pool.models)
            raise ServiceError(404, "unknown_model", f"no model '{key}' is loaded; give an id, a version or id@version of: {known}")
        if m.handler.name != handler:
            ids = ", ".join(x.id for x in mine) or "none"
            raise ServiceError(422, "wrong_task", f"model {m.id} is served by the '{m.handler.name}' handler, not by '{handler}' "
                                                  f"which this endpoint belongs to; its models: {ids}")
        if m.status != "ready":
            raise ServiceError(503, "not_ready", f"model {m.id} is {m.status}" + (f": {m.error}" if m.error else "; retry when /health/ready says ready"))
        return m

    async def predict(self, model: Any, inputs: list[Any], option: Any) -> list[tuple[Any, int]]:
        try:
            return await asyncio.wait_for(self._batchers[model.id].submit(inputs, option), self.settings.timeout_s)
        except TimeoutError:
            raise self._timeout() from None

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        try:
            return await asyncio.wait_for(loop.run_in_executor(self._executor, fn, *args), self.settings.timeout_s)
        except TimeoutError:
            raise self._timeout() from None

    def error(self, status: int, code: str, message: str, details: Any = None) -> Exception:
        return ServiceError(status, code, message, details)

    def _timeout(self) -> ServiceError:
        return ServiceError(504, "timeout", f"no result within {self.settings.timeout_s:g} s (the server is overloaded); retry later")


def create_app(settings: Settings, pool: ModelPool, on_fatal: Callable[[str], None] | None = None,
               pages: Sequence[tuple[ServePage, str]] | None = None) -> FastAPI:
    """The service for ``pool``; models load in the model thread after start-up (readiness says when).
    ``pages``: (page, distribution) of the plugins' pages (default: the installed ``aa_serve_pages``)."""
    tasks = {h.name: h.build() for h in pool.handlers()}
    options = handler_options(tasks, settings.options)
    metrics = Metrics(set(ENDPOINTS))
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="aa-model")  # every forward pass and the loading
    batchers: dict[str, Batcher] = {}
    state: dict[str, Any] = {"draining": False, "load_error": None}

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI):
        loop = asyncio.get_running_loop()
        for m in pool.models:
            metrics.ready.labels(m.id).set(0)
            batchers[m.id] = Batcher(_forward(tasks[m.handler.name], m), executor, settings.max_batch, settings.max_wait_s, metrics.observer(m.id))
            batchers[m.id].start()
        loading = loop.run_in_executor(executor, _load_all, pool, tasks, settings.threads, metrics)

        def loaded(fut: asyncio.Future) -> None:
            exc = None if fut.cancelled() else fut.exception()
            if exc is not None:
                failed = next((m for m in pool.models if m.status == "loading"), None)
                msg = exc.render() if hasattr(exc, "render") else f"{type(exc).__name__}: {exc}"
                if not hasattr(exc, "render"):  # not a UserError: a bug, keep its traceback
                    traceback.print_exception(exc, file=sys.stderr)
                if failed is not None:
                    failed.status, failed.error = "failed", msg
                state["load_error"] = msg
                print(f"aa serve: loading {failed.id if failed else 'a model'} failed: {msg}", file=sys.stderr, flush=True)
                if on_fatal is not None:
                    on_fatal(msg)

        loading.add_done_callback(loaded)
        yield
        state["draining"] = True
        for b in batchers.values():
            await b.stop()
        executor.shutdown(wait=False, cancel_futures=True)

    tasks_text = ", ".join(f"{h.name} ({h.description})" if h.description else h.name for h in pool.handlers())
    app = FastAPIOffline(title="AA model service", version="0.1.0", lifespan=lifespan, static_url=DOCS_ASSETS,
                         description=f"Serves trained AA checkpoints; tasks: {tasks_text}. "
                                     "Errors are JSON: {\"error\": {status, code, message, details}}.")

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> Response:
        details = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")} for e in exc.errors()]
        where = "; ".join(f"{'.'.join(str(p) for p in d['loc'])}: {d['msg']}" for d in details[:5])
        return _json_error(422, "invalid_request", f"the request does not match the schema ({where})", details)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> Response:
        return _json_error(exc.status_code, {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error"), str(exc.detail),
                           headers=getattr(exc, "headers", None))

    @app.exception_handler(ServiceError)
    async def _service(_request: Request, exc: ServiceError) -> Response:
        return _json_error(exc.status, exc.code, exc.message, exc.details)

    @app.exception_handler(Exception)
    async def _bug(_request: Request, exc: Exception) -> Response:
        print(f"aa serve: unexpected {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        return _json_error(500, "internal_error", "unexpected server error (a bug; the server log has the details)")

    @app.get("/v1/models", response_model=ModelsOut)
    async def models() -> ModelsOut:
        """The loaded models: task, architecture, checkpoint hash, training metrics, data hash, and what their task adds (aa-qa: the abstention threshold)."""
        return ModelsOut(default=pool.models[0].id, models=[ModelInfo(**m.describe(tasks[m.handler.name].describe(m.metadata))) for m in pool.models])

    @app.get("/health/live", response_model=Health)
    async def live() -> Health:
        """The process is up (models may still be loading)."""
        return Health(status="live")

    @app.get("/health/ready", response_model=Health, responses={503: {"model": Health, "description": "loading, failed or draining"}})
    async def ready() -> Response:
        """200 once every model is loaded; 503 while loading, after a failure or while shutting down."""
        status = "draining" if state["draining"] else "ready" if pool.ready else "failed" if state["load_error"] else "loading"
        body = Health(status=status, models={m.id: m.status for m in pool.models})
        return JSONResponse(body.model_dump(), status_code=200 if status == "ready" else 503)

    @app.get("/metrics", response_class=Response)
    async def prometheus() -> Response:
        """Prometheus metrics (text format)."""
        return Response(metrics.render(), media_type=metrics.content_type)

    host = Host(settings, pool, metrics, executor, batchers)
    for name, task in tasks.items():
        before = {getattr(r, "path", None) for r in app.routes}
        task.register_routes(app, host.for_handler(options[name]))
        added = {p for p in (getattr(r, "path", None) for r in app.routes) if p} - before
        metrics.endpoints |= added  # counted under their own label
        if not added:
            raise RuntimeError(f"serve handler '{name}' added no routes, so its checkpoints cannot be served; "
                               "its register_routes must add the task's endpoints (a bug in the plugin providing it)")
    _add_pages(app, host, pool, metrics, pages)

    app.state.service_state = state
    if settings.cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["GET", "POST"],
                           allow_headers=["Content-Type", "Authorization", "X-API-Key"])
    app.add_middleware(GuardMiddleware, api_key=settings.api_key, max_body_bytes=settings.max_body_bytes, timeout_s=settings.timeout_s)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    return app


def _add_pages(app: FastAPI, host: Host, pool: ModelPool, metrics: Metrics, pages: Sequence[tuple[ServePage, str]] | None) -> None:
    """Each plugin page's routes for the served models it can show (one that fails is reported and left out)."""
    if pages is None:
        from .models import installed_pages

        pages = installed_pages()
    for page, dist in pages:
        before = {getattr(r, "path", None) for r in app.routes}
        try:
            shown = page.build().register_routes(app, host.for_handler({}), list(pool.models))
        except Exception as exc:  # a broken page plugin must not take the service down
            print(f"aa serve: warning: the page '{page.name}' of {dist} was left out ({type(exc).__name__}: {exc})", file=sys.stderr, flush=True)
            continue
        metrics.endpoints |= {p for p in (getattr(r, "path", None) for r in app.routes) if p} - before
        for line in shown or []:
            print(f"aa serve: {line}", file=sys.stderr, flush=True)


def _forward(task: ServeTask, m: ServedModel) -> Callable[[list[Any], Any], list[Any]]:
    """The batcher's forward pass of ``m``: its handler's ``predict`` on what its ``load`` returned."""
    def run(inputs: list[Any], option: Any) -> list[Any]:
        if m.loaded is None:
            raise RuntimeError(f"model {m.id} is not loaded")
        return task.predict(m.loaded, inputs, option)
    return run
