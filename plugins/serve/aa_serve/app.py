"""The FastAPI application: answer, batch, models, health, metrics and the demo page."""
# No `from __future__ import annotations`: FastAPI reads the endpoint annotations, which name classes
# built per application (their limits come from the settings).
import asyncio
import contextlib
import sys
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from importlib import resources
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi_offline import FastAPIOffline
from starlette.exceptions import HTTPException as StarletteHTTPException

from .batcher import Batcher
from .metrics import Metrics, MetricsMiddleware
from .models import ModelPool, ServedModel
from .safety import GuardMiddleware, error_body
from .schemas import Alternative, AnswerOut, BatchOut, Health, ModelInfo, ModelRef, ModelsOut, request_models
from .settings import Settings

ENDPOINTS = {"/", "/v1/answer", "/v1/answer/batch", "/v1/inspect", "/v1/models", "/health/live", "/health/ready", "/metrics", "/docs", "/redoc"}
DOCS_ASSETS = "/docs-assets"  # Swagger UI's and ReDoc's files from the fastapi-offline package: /docs and /redoc work offline


class ServiceError(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _json_error(status: int, code: str, message: str, details: Any = None, headers: dict | None = None) -> Response:
    return Response(error_body(status, code, message, details), status_code=status, media_type="application/json", headers=headers)


def _load_all(pool: ModelPool, threads: int, metrics: Metrics) -> None:
    if threads:
        import torch

        torch.set_num_threads(threads)
    for m in pool.models:
        m.load()
        metrics.ready.labels(m.id).set(1)


def create_app(settings: Settings, pool: ModelPool, on_fatal: Callable[[str], None] | None = None) -> FastAPI:
    """The service for ``pool``; models load in the model thread after start-up (readiness says when)."""
    AnswerRequest, BatchRequest, InspectRequest = request_models(settings)
    metrics = Metrics(ENDPOINTS)
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="aa-model")  # every forward pass and the loading
    batchers: dict[str, Batcher] = {}
    state: dict[str, Any] = {"draining": False, "load_error": None}

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI):
        loop = asyncio.get_running_loop()
        for m in pool.models:
            metrics.ready.labels(m.id).set(0)
            batchers[m.id] = Batcher(m.answer, executor, settings.max_batch, settings.max_wait_s, metrics.observer(m.id))
            batchers[m.id].start()
        loading = loop.run_in_executor(executor, _load_all, pool, settings.threads, metrics)

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

    app = FastAPIOffline(title="AA question answering", version="0.1.0", lifespan=lifespan, static_url=DOCS_ASSETS,
                         description="Answers questions with trained AA checkpoints. Errors are JSON: {\"error\": {status, code, message, details}}.")

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
        return _json_error(exc.status, exc.code, exc.message)

    @app.exception_handler(Exception)
    async def _bug(_request: Request, exc: Exception) -> Response:
        print(f"aa serve: unexpected {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        return _json_error(500, "internal_error", "unexpected server error (a bug; the server log has the details)")

    def pick(key: str | None) -> ServedModel:
        m = pool.get(key)
        if m is None:
            known = ", ".join(f"{x.id}@{x.version}" for x in pool.models)
            raise ServiceError(404, "unknown_model", f"no model '{key}' is loaded; give an id, a version or id@version of: {known}")
        if m.status != "ready":
            raise ServiceError(503, "not_ready", f"model {m.id} is {m.status}" + (f": {m.error}" if m.error else "; retry when /health/ready says ready"))
        return m

    async def run(m: ServedModel, questions: list[str], top_k: int, t0: float) -> list[AnswerOut]:
        try:
            results = await asyncio.wait_for(batchers[m.id].submit(questions, top_k), settings.timeout_s)
        except TimeoutError:
            raise ServiceError(504, "timeout", f"no answer within {settings.timeout_s:g} s (the server is overloaded); retry later") from None
        ref = ModelRef(id=m.id, version=m.version)
        ms = (time.perf_counter() - t0) * 1000
        out = []
        for a, size in results:
            metrics.questions.labels(m.id, str(a.abstained).lower()).inc()
            finite = getattr(a, "finite", True)  # a NaN/inf prediction abstains with a reason, never a NaN confidence
            out.append(AnswerOut(question=a.question, answer=a.text, confidence=a.score if finite else None, abstained=a.abstained,
                                 reason=getattr(a, "reason", None), threshold=m.threshold,
                                 alternatives=[Alternative(answer=t, score=s) for t, s in a.alternatives[:top_k]],
                                 new_text=getattr(a, "novel", None), model=ref,
                                 batch_size=size, time_ms=ms))
        return out

    @app.post("/v1/answer", response_model=AnswerOut, responses={404: {"description": "unknown model"}, 422: {"description": "invalid request"}})
    async def answer(body: AnswerRequest) -> AnswerOut:  # type: ignore[valid-type]  # a class built per application
        """Answer one question (joins a dynamic batch)."""
        t0 = time.perf_counter()
        m = pick(body.model)  # type: ignore[attr-defined]
        return (await run(m, [body.question], body.top_k, t0))[0]  # type: ignore[attr-defined]

    @app.post("/v1/answer/batch", response_model=BatchOut, responses={404: {"description": "unknown model"}, 422: {"description": "invalid request"}})
    async def answer_batch(body: BatchRequest) -> BatchOut:  # type: ignore[valid-type]  # a class built per application
        """Answer up to --max-questions questions."""
        t0 = time.perf_counter()
        m = pick(body.model)  # type: ignore[attr-defined]
        answers = await run(m, list(body.questions), body.top_k, t0)  # type: ignore[attr-defined]
        return BatchOut(answers=answers, model=ModelRef(id=m.id, version=m.version), time_ms=(time.perf_counter() - t0) * 1000)

    @app.post("/v1/inspect", response_class=Response,
              responses={200: {"content": {"image/png": {}}, "description": "PNG: the state per step on slices, the light cone, the output face"},
                         404: {"description": "unknown model"}, 422: {"description": "invalid request, or a model without a lattice to picture"}})
    async def inspect(body: InspectRequest) -> Response:  # type: ignore[valid-type]  # a class built per application
        """A picture of what happens inside the lattice for one question (as `aa inspect`); runs in the model thread."""
        from aa_core.plugin import UserError

        m = pick(body.model)  # type: ignore[attr-defined]
        loop = asyncio.get_running_loop()
        try:
            png = await asyncio.wait_for(loop.run_in_executor(executor, m.picture, body.question), settings.timeout_s)  # type: ignore[attr-defined]
        except TimeoutError:
            raise ServiceError(504, "timeout", f"no picture within {settings.timeout_s:g} s (the server is overloaded); retry later") from None
        except UserError as exc:
            raise ServiceError(422, "not_inspectable", str(exc)) from None
        return Response(png, media_type="image/png")

    @app.get("/v1/models", response_model=ModelsOut)
    async def models() -> ModelsOut:
        """The loaded models: architecture, checkpoint hash, training metrics, data hash, abstention threshold."""
        return ModelsOut(default=pool.models[0].id, models=[ModelInfo(**m.describe()) for m in pool.models])

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

    page = resources.files("aa_serve").joinpath("static/index.html").read_text(encoding="utf-8")

    @app.get("/", response_class=HTMLResponse)
    async def demo() -> HTMLResponse:
        """The demo page."""
        return HTMLResponse(page)

    app.state.service_state = state
    if settings.cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["GET", "POST"],
                           allow_headers=["Content-Type", "Authorization", "X-API-Key"])
    app.add_middleware(GuardMiddleware, api_key=settings.api_key, max_body_bytes=settings.max_body_bytes, timeout_s=settings.timeout_s)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    return app
