"""aa-qa's part of ``aa serve`` (the ``aa_serve_handlers`` hook): Q→A checkpoints answer questions.

Routes: ``POST /v1/answer`` and ``/v1/answer/batch`` (answers, confidence, abstention below the
checkpoint's calibrated threshold, alternatives; dynamically batched), ``POST /v1/inspect`` (the
lattice picture of ``aa inspect``) and ``GET /`` (the demo page). Torch loads in the model thread,
after the service listens; this module imports FastAPI and pydantic, which aa-serve brings.

Its options (``aa serve --option NAME=VALUE``): ``top_k`` (alternatives when a request does not say)
and ``max_question_chars``; the questions of one batch request are bounded by the service's generic
``--max-inputs``.
"""
# No `from __future__ import annotations`: FastAPI reads the endpoint annotations, which name classes
# built per application (their limits come from the service's settings).
import math
import tempfile
import time
from importlib import resources
from pathlib import Path
from typing import Any

import attrs
from fastapi import FastAPI
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, ConfigDict, Field, field_validator

from aa_core.plugin import UserError
from aa_serve import ServeHost, ServeOption

NAME = "qa"
NO_ABSTENTION = ("this checkpoint holds no usable calibrated threshold (saved before abstention existed, its model writes new text, "
                 "or it was calibrated on non-finite predictions): answers are never marked abstained by a threshold, only when the "
                 "prediction is not finite")


class Alternative(BaseModel):
    answer: str
    score: float = Field(description="cosine of the predicted embedding to this answer's embedding")


class ModelRef(BaseModel):
    id: str
    version: str = Field(description="the first 12 hex digits of the sha256 of the checkpoint's weight tensors (names, dtypes, shapes, bytes)")


class AnswerOut(BaseModel):
    question: str
    answer: str = Field(description="the decoded answer (the best guess, also when abstained); empty when the prediction is not finite")
    confidence: float | None = Field(description="cosine of the predicted answer embedding to the answer's embedding "
                                                 "(null: the prediction is NaN/inf, no answer)")
    abstained: bool = Field(description="confidence below the threshold calibrated on the validation split, or no finite prediction")
    reason: str | None = Field(None, description="why there is no answer at all (a NaN/inf prediction); null otherwise")
    threshold: float | None = Field(description="the checkpoint's abstention threshold (null: none stored, no abstention)")
    alternatives: list[Alternative]
    new_text: bool | None = Field(None, description="generative models: true when the answer is not one of the training answers")
    model: ModelRef
    batch_size: int = Field(description="questions in the forward pass this one ran in")
    time_ms: float = Field(description="time from receiving the request to the answer, in the server")


class BatchOut(BaseModel):
    answers: list[AnswerOut]
    model: ModelRef
    time_ms: float


def _check_text(q: str) -> str:
    if not q.strip():
        raise ValueError("the question is empty (only whitespace)")
    try:
        q.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("the question is not valid Unicode text (lone surrogate characters)") from None
    return q


OPTIONS = (ServeOption("top_k", 3, "alternatives returned when a request does not say", 0, 20),
           ServeOption("max_question_chars", 1000, "longest question accepted", 1, 100_000))


def request_models(max_inputs: int, options: Any) -> tuple[type[BaseModel], type[BaseModel], type[BaseModel]]:
    """(AnswerRequest, BatchRequest, InspectRequest) bounded by the service's ``max_inputs`` and this handler's ``options``."""
    max_chars, default_k = int(options["max_question_chars"]), int(options["top_k"])  # (a class body cannot read a name it assigns)

    class AnswerRequest(BaseModel):
        model_config = ConfigDict(extra="forbid")
        question: str = Field(min_length=1, max_length=max_chars, examples=["What is overfitting?"])
        model: str | None = Field(None, max_length=200, description="model id, version (weights-hash prefix) or id@version; default: the first")
        top_k: int = Field(default_k, ge=0, le=20, description="alternatives to return besides the answer")

        @field_validator("question")
        @classmethod
        def _text(cls, v: str) -> str:
            return _check_text(v)

    class BatchRequest(BaseModel):
        model_config = ConfigDict(extra="forbid")
        questions: list[str] = Field(min_length=1, max_length=max_inputs, examples=[["What is overfitting?", "What is dropout?"]])
        model: str | None = Field(None, max_length=200, description="model id, version (weights-hash prefix) or id@version; default: the first")
        top_k: int = Field(default_k, ge=0, le=20)

        @field_validator("questions")
        @classmethod
        def _texts(cls, v: list[str]) -> list[str]:
            for i, q in enumerate(v):
                if not 1 <= len(q) <= max_chars:
                    raise ValueError(f"question {i} has {len(q)} characters; 1 to {max_chars} are accepted")
                try:
                    _check_text(q)
                except ValueError as exc:
                    raise ValueError(f"question {i}: {exc}") from None
            return v

    class InspectRequest(BaseModel):
        model_config = ConfigDict(extra="forbid")
        question: str = Field(min_length=1, max_length=max_chars, examples=["What is overfitting?"])
        model: str | None = Field(None, max_length=200, description="model id, version (weights-hash prefix) or id@version; default: the first")

        @field_validator("question")
        @classmethod
        def _text(cls, v: str) -> str:
            return _check_text(v)

    return AnswerRequest, BatchRequest, InspectRequest


@attrs.frozen
class Loaded:
    """A restored Q→A checkpoint: the model, its build context, its fitted decoder and abstention threshold."""

    model: Any
    ctx: Any
    decoder: Any
    threshold: float | None


def picture(loaded: Loaded, question: str) -> bytes:
    """PNG of what happens inside the lattice for ``question`` (``aa inspect``'s picture; runs in the model thread)."""
    from aa_inspect.lattice_view import check_size, picture, trace

    from .answering import NONFINITE, decode_scored

    check_size(loaded.model)
    tr = trace(loaded.model, loaded.ctx.tokenizer.encode([question]))
    texts, score = decode_scored(tr["prediction"], loaded.ctx, loaded.decoder)
    s = float(score[0])
    shown = f"{texts[0]}  (similarity {s:.3f})" if math.isfinite(s) else f"(no answer: {NONFINITE})"
    with tempfile.TemporaryDirectory(prefix="aa-serve-") as tmp:
        return picture(loaded.model, tr, question, shown, Path(tmp) / "lattice.png").read_bytes()


class QAServing:
    """The Q→A handler (a :class:`aa_serve.ServeTask`)."""

    def options(self) -> list[ServeOption]:
        """``top_k`` and ``max_question_chars`` (``aa serve --option NAME=VALUE``)."""
        return list(OPTIONS)

    def load(self, checkpoint: Path, metadata: dict[str, Any]) -> Loaded:
        """Restore through the one restore path and answer one question, so that the first request is not slow."""
        from .abstain import threshold
        from .answering import answer_details, restore_for_answers

        model, ctx, decoder = restore_for_answers(checkpoint)
        tokenizer = getattr(ctx, "tokenizer", None)
        if getattr(tokenizer, "cache", None) is not None:
            tokenizer.cache = None  # type: ignore[union-attr]  # served questions are not written to the training embedding cache
        loaded = Loaded(model, ctx, decoder, threshold(metadata))
        answer_details(model, ctx, decoder, ["warm-up question"], top_k=1)
        return loaded

    def predict(self, loaded: Loaded, inputs: list[Any], option: int) -> list[Any]:
        """Answers (``aa_qa.ask.Answer``) of one batch of questions with ``option`` alternatives."""
        from .answering import answer_details

        return answer_details(loaded.model, loaded.ctx, loaded.decoder, inputs, top_k=option, threshold=loaded.threshold)

    def describe(self, metadata: dict[str, Any]) -> dict[str, Any]:
        """``abstention``: the stored calibration (threshold null, with a note, when there is none to use)."""
        from .abstain import KEY, threshold

        abstention = dict(metadata[KEY]) if isinstance(metadata.get(KEY), dict) else {"threshold": None}
        if threshold(metadata) is None:
            abstention["threshold"] = None
            abstention["note"] = NO_ABSTENTION
        return {"abstention": abstention}

    def register_routes(self, app: FastAPI, host: ServeHost) -> None:
        from prometheus_client import Counter

        AnswerRequest, BatchRequest, InspectRequest = request_models(host.settings.max_inputs, host.options)
        questions = Counter("aa_serve_questions", "questions answered", ["model", "abstained"], registry=host.registry)
        errors: dict[int | str, dict[str, Any]] = {404: {"description": "unknown model"},
                                                   422: {"description": "invalid request, or a model of another task"}}

        async def run(key: str | None, texts: list[str], top_k: int, t0: float) -> tuple[list[AnswerOut], ModelRef]:
            m = host.pick(key, NAME)
            results = await host.predict(m, texts, top_k)
            ref = ModelRef(id=m.id, version=m.version)
            ms = (time.perf_counter() - t0) * 1000
            out = []
            for a, size in results:
                questions.labels(m.id, str(a.abstained).lower()).inc()
                finite = a.finite  # a NaN/inf prediction abstains with a reason, never a NaN confidence
                out.append(AnswerOut(question=a.question, answer=a.text, confidence=a.score if finite else None, abstained=a.abstained,
                                     reason=a.reason, threshold=m.loaded.threshold,
                                     alternatives=[Alternative(answer=t, score=s) for t, s in a.alternatives[:top_k]],
                                     new_text=a.novel, model=ref, batch_size=size, time_ms=ms))
            return out, ref

        @app.post("/v1/answer", response_model=AnswerOut, responses=errors)
        async def answer(body: AnswerRequest) -> AnswerOut:  # type: ignore[valid-type]  # a class built per application
            """Answer one question (joins a dynamic batch)."""
            out, _ = await run(body.model, [body.question], body.top_k, time.perf_counter())  # type: ignore[attr-defined]
            return out[0]

        @app.post("/v1/answer/batch", response_model=BatchOut, responses=errors)
        async def answer_batch(body: BatchRequest) -> BatchOut:  # type: ignore[valid-type]  # a class built per application
            """Answer up to --max-inputs questions."""
            t0 = time.perf_counter()
            out, ref = await run(body.model, list(body.questions), body.top_k, t0)  # type: ignore[attr-defined]
            return BatchOut(answers=out, model=ref, time_ms=(time.perf_counter() - t0) * 1000)

        @app.post("/v1/inspect", response_class=Response,
                  responses={200: {"content": {"image/png": {}}, "description": "PNG: the state per step on slices, the light cone, the output face"},
                             404: {"description": "unknown model"}, 422: {"description": "invalid request, or a model without a lattice to picture"}})
        async def inspect(body: InspectRequest) -> Response:  # type: ignore[valid-type]  # a class built per application
            """A picture of what happens inside the lattice for one question (as `aa inspect`); runs in the model thread."""
            m = host.pick(body.model, NAME)  # type: ignore[attr-defined]
            try:
                png = await host.call(picture, m.loaded, body.question)  # type: ignore[attr-defined]
            except UserError as exc:
                raise host.error(422, "not_inspectable", str(exc)) from None
            return Response(png, media_type="image/png")

        page = resources.files("aa_qa").joinpath("static/serve_demo.html").read_text(encoding="utf-8")

        @app.get("/", response_class=HTMLResponse)
        async def demo() -> HTMLResponse:
            """The demo page: ask a question, see the answer, its alternatives and the lattice picture."""
            return HTMLResponse(page)
