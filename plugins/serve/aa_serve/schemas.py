"""The generic response bodies (pydantic; they make the OpenAPI schema). A task's own bodies are its handler's."""
from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class ModelInfo(BaseModel):
    """One served model; its task's handler adds its own fields (aa-qa: ``abstention``)."""

    model_config = ConfigDict(extra="allow")
    id: str
    version: str = Field(description="the first 12 hex digits of weights_hash: equal tensors, equal version")
    task: str = Field(description="the serve handler (task) serving this checkpoint")
    status: str = Field(description="loading, ready or failed")
    error: str | None
    architecture: str | None = Field(description="registry name@version when the spec starts from one")
    components: dict[str, str] = Field(description="kind → component name")
    plugins: dict[str, str] = Field(description="distribution → version the checkpoint was saved with")
    checkpoint: str
    checkpoint_hash: str = Field(description="sha256 of the weights file (its bytes, header included)")
    weights_hash: str = Field(description="sha256 of the weights' tensors: name, dtype, shape and bytes of each, in name order")
    model_hash: str | None
    data_hash: str | None
    data_sizes: dict[str, int] | None
    params: int | None
    created: str | None
    metrics: dict[str, Any] = Field(description="the training metrics of the saved (best) epoch")
    warnings: list[str]


class ModelsOut(BaseModel):
    default: str
    models: list[ModelInfo]


class Health(BaseModel):
    status: str
    models: dict[str, str] = Field(default_factory=dict)
