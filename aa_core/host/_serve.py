"""What a task contributes to ``aa serve``: a :class:`ServeHandler` descriptor (torch-free, returned by
the ``aa_serve_handlers`` hook) and the contract its handler object implements (:class:`ServeTask`),
given the service's helpers (:class:`ServeHost`)."""
from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol, TypeVar, runtime_checkable

import attrs

from ._component import resolve

T = TypeVar("T")


@attrs.frozen
class ServeHandler:
    """How ``aa serve`` serves one task's checkpoints.

    ``handler`` is ``"module:attr"`` (imported only when a served checkpoint needs it, so that listing
    stays torch-free) or a callable: a zero-argument factory, usually a class, whose result implements
    :class:`ServeTask`. A checkpoint is *claimed* when the ``dataset`` table of the spec its
    ``metadata.json`` holds names one of ``datasets``; a checkpoint saved before the dataset kind (its spec
    has no ``dataset`` table) is claimed when its spec has one of the tables named in ``sections``.
    """

    name: str = attrs.field(validator=attrs.validators.min_len(1))
    handler: str | Callable[[], Any]
    datasets: tuple[str, ...] = ()
    sections: tuple[str, ...] = ()
    description: str = ""

    def claims(self, metadata: Mapping[str, Any]) -> bool:
        """Whether this handler serves the checkpoint whose metadata is ``metadata``."""
        spec = metadata.get("spec")
        if not isinstance(spec, Mapping):
            return False
        dataset = spec.get("dataset")
        if isinstance(dataset, Mapping):
            return dataset.get("name") in self.datasets
        return any(section in spec for section in self.sections)

    def what(self) -> str:
        """The checkpoints it claims, in words (for error messages)."""
        parts = [f"dataset {' or '.join(self.datasets)}"] if self.datasets else []
        if self.sections:
            parts.append(f"older checkpoints whose spec has [{'] or ['.join(self.sections)}]")
        return "; ".join(parts) or "no checkpoint"

    def build(self) -> ServeTask:
        """The handler object (imports its module)."""
        task = resolve(self.handler)()
        if not isinstance(task, ServeTask):
            missing = [m for m in ("load", "predict", "describe", "register_routes") if not callable(getattr(task, m, None))]
            raise TypeError(f"serve handler '{self.name}' ({self.handler!r}) built a {type(task).__name__}, "
                            f"which lacks {', '.join(missing)} (see aa_core.plugin.ServeTask)")
        return task


class ServedCheckpoint(Protocol):
    """One served model, as ``aa serve`` shows it to its handler."""

    @property
    def id(self) -> str: ...
    @property
    def version(self) -> str: ...  # the first 12 hex digits of the weights' sha256
    @property
    def path(self) -> Path: ...
    @property
    def metadata(self) -> dict[str, Any]: ...
    @property
    def loaded(self) -> Any: ...  # what the handler's ``load`` returned


class ServeHost(Protocol):
    """The service's helpers, passed to :meth:`ServeTask.register_routes`.

    ``settings`` are ``aa serve``'s command-line settings (``timeout_s``, ``top_k``, ``max_questions``,
    ``max_question_chars``, ...); ``registry`` is the Prometheus registry ``/metrics`` renders (a handler
    adds its own metrics there).
    """

    settings: Any
    registry: Any

    def pick(self, key: str | None, handler: str) -> ServedCheckpoint:
        """The ready model ``key`` names (id, version prefix or id@version; None: the first of ``handler``'s
        models); raises the service's JSON errors (404 unknown, 422 another task's model, 503 not ready)."""
        ...

    async def predict(self, model: ServedCheckpoint, inputs: list[Any], option: int) -> list[tuple[Any, int]]:
        """(result, size of the forward pass it ran in) per input: joins the model's dynamic batch (504 on timeout)."""
        ...

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` in the model thread, off the event loop (504 on timeout)."""
        ...

    def error(self, status: int, code: str, message: str) -> Exception:
        """An exception the service answers as ``{"error": {status, code, message}}``."""
        ...


@runtime_checkable
class ServeTask(Protocol):
    """A task's serving handler: restores its checkpoints and adds its routes to the service."""

    def load(self, checkpoint: Path, metadata: dict[str, Any]) -> Any:
        """Restore ``checkpoint`` (in the model thread; warm it up here). The result is the model's ``loaded``;
        a ``UserError`` fails the service with exit 2 and its message; UserWarnings are listed in /v1/models."""
        ...

    def predict(self, loaded: Any, inputs: list[Any], option: int) -> list[Any]:
        """One batched forward pass (in the model thread): a result per input, in order. ``option`` is the
        largest per-request option of the pass (aa-qa: ``top_k``)."""
        ...

    def describe(self, metadata: dict[str, Any]) -> dict[str, Any]:
        """Fields this task adds to the model's ``/v1/models`` entry (NaN/inf become null)."""
        ...

    def register_routes(self, app: Any, host: ServeHost) -> None:
        """Add this task's routes to the FastAPI ``app`` (called once per service, before it starts)."""
        ...
