"""Request and response bodies (pydantic; they make the OpenAPI schema). Limits come from the settings."""
from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from .settings import Settings


class Alternative(BaseModel):
    answer: str
    score: float = Field(description="cosine of the predicted embedding to this answer's embedding")


class ModelRef(BaseModel):
    id: str
    version: str = Field(description="the first 12 hex digits of the checkpoint's weights sha256")


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


class ModelInfo(BaseModel):
    id: str
    version: str
    status: str = Field(description="loading, ready or failed")
    error: str | None
    architecture: str | None = Field(description="registry name@version when the spec starts from one")
    components: dict[str, str] = Field(description="kind → component name")
    plugins: dict[str, str] = Field(description="distribution → version the checkpoint was saved with")
    checkpoint: str
    checkpoint_hash: str = Field(description="sha256 of the weights file")
    model_hash: str | None
    data_hash: str | None
    data_sizes: dict[str, int] | None
    params: int | None
    created: str | None
    metrics: dict[str, Any] = Field(description="the training metrics of the saved (best) epoch")
    abstention: dict[str, Any] = Field(description="threshold (null: no abstention) and how it was calibrated")
    warnings: list[str]


class ModelsOut(BaseModel):
    default: str
    models: list[ModelInfo]


class Health(BaseModel):
    status: str
    models: dict[str, str] = Field(default_factory=dict)


def _check_text(q: str) -> str:
    if not q.strip():
        raise ValueError("the question is empty (only whitespace)")
    try:
        q.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("the question is not valid Unicode text (lone surrogate characters)") from None
    return q


def request_models(s: Settings) -> tuple[type[BaseModel], type[BaseModel], type[BaseModel]]:
    """(AnswerRequest, BatchRequest, InspectRequest) bounded by ``s``."""

    class AnswerRequest(BaseModel):
        model_config = ConfigDict(extra="forbid")
        question: str = Field(min_length=1, max_length=s.max_question_chars, examples=["What is overfitting?"])
        model: str | None = Field(None, max_length=200, description="model id, version (checkpoint-hash prefix) or id@version; default: the first")
        top_k: int = Field(s.top_k, ge=0, le=20, description="alternatives to return besides the answer")

        @field_validator("question")
        @classmethod
        def _text(cls, v: str) -> str:
            return _check_text(v)

    class BatchRequest(BaseModel):
        model_config = ConfigDict(extra="forbid")
        questions: list[str] = Field(min_length=1, max_length=s.max_questions, examples=[["What is overfitting?", "What is dropout?"]])
        model: str | None = Field(None, max_length=200, description="model id, version (checkpoint-hash prefix) or id@version; default: the first")
        top_k: int = Field(s.top_k, ge=0, le=20)

        @field_validator("questions")
        @classmethod
        def _texts(cls, v: list[str]) -> list[str]:
            for i, q in enumerate(v):
                if not 1 <= len(q) <= s.max_question_chars:
                    raise ValueError(f"question {i} has {len(q)} characters; 1 to {s.max_question_chars} are accepted")
                try:
                    _check_text(q)
                except ValueError as exc:
                    raise ValueError(f"question {i}: {exc}") from None
            return v

    class InspectRequest(BaseModel):
        model_config = ConfigDict(extra="forbid")
        question: str = Field(min_length=1, max_length=s.max_question_chars, examples=["What is overfitting?"])
        model: str | None = Field(None, max_length=200, description="model id, version (checkpoint-hash prefix) or id@version; default: the first")

        @field_validator("question")
        @classmethod
        def _text(cls, v: str) -> str:
            return _check_text(v)

    return AnswerRequest, BatchRequest, InspectRequest
