"""What a task contributes to ``aa serve`` (torch- and FastAPI-free): a :class:`ServeHandler` descriptor,
returned by the ``aa_serve_handlers`` hook (:mod:`aa_serve.hookspecs`), and the contract its handler object
implements (:class:`ServeTask`), given the service's helpers (:class:`ServeHost`). A handler's settings
are :class:`ServeOption` values (``aa serve --option NAME=VALUE``). A plugin may also add pages beside
the handlers' routes for the checkpoints it can show, whichever handler serves them (a :class:`ServePage`
of the ``aa_serve_pages`` hook, e.g. aa-export's ``/live``; its object implements :class:`ServePageTask`).

Moved here from ``aa_core.plugin`` (where the names stay, deprecated, until aa-core 0.3).
"""
from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, TypeVar, runtime_checkable

import attrs

T = TypeVar("T")


def _resolve(ref: str | Callable[..., Any]) -> Any:
    """A ``"module:attr.path"`` reference imported on demand (callables pass through)."""
    if not isinstance(ref, str):
        return ref
    module, _, attr = ref.partition(":")
    obj: Any = importlib.import_module(module)
    for part in attr.split(".") if attr else []:
        obj = getattr(obj, part)
    return obj


def _spec_of(metadata: Mapping[str, Any]) -> Mapping[str, Any] | None:
    spec = metadata.get("spec")
    return spec if isinstance(spec, Mapping) else None


def dataset_name(metadata: Mapping[str, Any]) -> str | None:
    """The name in the ``dataset`` table of the checkpoint's spec (None without one)."""
    spec = _spec_of(metadata)
    dataset = spec.get("dataset") if spec is not None else None
    name = dataset.get("name") if isinstance(dataset, Mapping) else None
    return name if isinstance(name, str) else None


@attrs.frozen
class ServeHandler:
    """How ``aa serve`` serves one task's checkpoints.

    ``handler`` is ``"module:attr"`` (imported only when a served checkpoint needs it, so that listing
    stays torch-free) or a callable: a zero-argument factory, usually a class, whose result implements
    :class:`ServeTask`. A checkpoint is *claimed* when the ``dataset`` table of the spec its
    ``metadata.json`` holds names one of ``datasets``; a checkpoint saved before the dataset kind (its spec
    has no ``dataset`` table) is claimed when its spec has one of the tables named in ``sections``.
    A ``fallback`` handler (aa-serve's generic ``predict``) claims every checkpoint with a ``dataset``
    table, and serves one only when no other handler claims it.
    """

    name: str = attrs.field(validator=attrs.validators.min_len(1))
    handler: str | Callable[[], Any]
    datasets: tuple[str, ...] = ()
    sections: tuple[str, ...] = ()
    description: str = ""
    fallback: bool = False

    def claims(self, metadata: Mapping[str, Any]) -> bool:
        """Whether this handler serves the checkpoint whose metadata is ``metadata``."""
        spec = _spec_of(metadata)
        if spec is None:
            return False
        if isinstance(spec.get("dataset"), Mapping):
            name = dataset_name(metadata)
            return name is not None and (self.fallback or name in self.datasets)
        return any(section in spec for section in self.sections)

    def what(self) -> str:
        """The checkpoints it claims, in words (for error messages)."""
        if self.fallback:
            return ("any installed dataset that describes its inputs and predictions (aa_core.protocols.ServableDataset), "
                    "when no other handler claims it")
        parts = [f"dataset {' or '.join(self.datasets)}"] if self.datasets else []
        if self.sections:
            parts.append(f"older checkpoints whose spec has [{'] or ['.join(self.sections)}]")
        return "; ".join(parts) or "no checkpoint"

    def build(self) -> ServeTask:
        """The handler object (imports its module)."""
        task = _resolve(self.handler)()
        if not isinstance(task, ServeTask):
            missing = [m for m in ("load", "predict", "describe", "register_routes") if not callable(getattr(task, m, None))]
            raise TypeError(f"serve handler '{self.name}' ({self.handler!r}) built a {type(task).__name__}, "
                            f"which lacks {', '.join(missing)} (see aa_serve.ServeTask)")
        return task


@attrs.frozen
class ServePage:
    """Routes a plugin adds to every service, beside the handlers' (aa-export: ``/live``, the model running
    in the browser). ``page`` is ``"module:attr"`` (imported only when a service starts) or a zero-argument
    factory whose result implements :class:`ServePageTask`; it sees every served checkpoint, whichever
    handler serves it, and adds its routes only when it can show one of them."""

    name: str = attrs.field(validator=attrs.validators.min_len(1))
    page: str | Callable[[], Any]
    description: str = ""

    def build(self) -> ServePageTask:
        """The page object (imports its module)."""
        task = _resolve(self.page)()
        if not callable(getattr(task, "register_routes", None)):
            raise TypeError(f"serve page '{self.name}' ({self.page!r}) built a {type(task).__name__}, which lacks "
                            "register_routes (see aa_serve.ServePageTask)")
        return task


@attrs.frozen
class ServeOption:
    """A setting of one handler, given as ``aa serve --option NAME=VALUE`` (aa-qa: ``top_k``,
    ``max_question_chars``). Its type is its ``default``'s (int, float, bool or str); ``low``/``high``
    bound a number. The handler reads the value from ``host.options[name]``."""

    name: str = attrs.field(validator=attrs.validators.matches_re(r"^[a-z][a-z0-9_]*$"))
    default: int | float | bool | str
    help: str = ""
    low: float | None = None
    high: float | None = None

    def parse(self, text: str) -> Any:
        """``text`` as this option's type, in range; a ValueError says what is wrong."""
        kind = type(self.default)
        if kind is bool:
            if text.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError(f"'{text}' is not true or false")
            return text.lower() in ("true", "1", "yes")
        if kind is str:
            return text
        try:
            value: float = int(text) if kind is int else float(text)
        except ValueError:
            raise ValueError(f"'{text}' is not {'an integer' if kind is int else 'a number'}") from None
        if (self.low is not None and value < self.low) or (self.high is not None and value > self.high):
            raise ValueError(f"{value} is out of range; give a value from {self.low:g} to {self.high:g}" if self.low is not None
                             and self.high is not None else f"{value} is out of range")
        return value

    def describe(self) -> str:
        bounds = f", {self.low:g} to {self.high:g}" if self.low is not None and self.high is not None else ""
        return f"{self.name} (default {self.default!r}{bounds}){': ' + self.help if self.help else ''}"


class ServedCheckpoint(Protocol):
    """One served model, as ``aa serve`` shows it to its handler."""

    @property
    def id(self) -> str: ...
    @property
    def version(self) -> str: ...  # the first 12 hex digits of the sha256 of the weights' tensors (names, dtypes, shapes, bytes)
    @property
    def path(self) -> Path: ...
    @property
    def metadata(self) -> dict[str, Any]: ...
    @property
    def loaded(self) -> Any: ...  # what the handler's ``load`` returned


class ServeHost(Protocol):
    """The service's helpers, passed to :meth:`ServeTask.register_routes`.

    ``settings`` are ``aa serve``'s generic settings (``timeout_s``, ``max_inputs`` per request,
    ``max_body_bytes``, ...); ``options`` this handler's own (its :meth:`ServeTask.options`, as given with
    ``--option NAME=VALUE`` or their defaults); ``registry`` is the Prometheus registry ``/metrics``
    renders (a handler adds its own metrics there).
    """

    settings: Any
    options: Mapping[str, Any]
    registry: Any

    def pick(self, key: str | None, handler: str) -> ServedCheckpoint:
        """The ready model ``key`` names (id, version prefix or id@version; None: the first of ``handler``'s
        models); raises the service's JSON errors (404 unknown, 422 another task's model, 503 not ready)."""
        ...

    async def predict(self, model: ServedCheckpoint, inputs: list[Any], option: Any) -> list[tuple[Any, int]]:
        """(result, size of the forward pass it ran in) per input: joins the model's dynamic batch (504 on timeout)."""
        ...

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` in the model thread, off the event loop (504 on timeout)."""
        ...

    def error(self, status: int, code: str, message: str, details: Any = None) -> Exception:
        """An exception the service answers as ``{"error": {status, code, message, details}}``."""
        ...


@runtime_checkable
class ServeTask(Protocol):
    """A task's serving handler: restores its checkpoints and adds its routes to the service.

    It may also declare settings: ``options()`` → a list of :class:`ServeOption` (checked, with their
    values, before the service binds; read them from ``host.options``).
    """

    def load(self, checkpoint: Path, metadata: dict[str, Any]) -> Any:
        """Restore ``checkpoint`` (in the model thread; warm it up here). The result is the model's ``loaded``;
        a ``UserError`` fails the service with exit 2 and its message; UserWarnings are listed in /v1/models."""
        ...

    def predict(self, loaded: Any, inputs: list[Any], option: Any) -> list[Any]:
        """One batched forward pass (in the model thread): a result per input, in order. ``option`` is the
        largest per-request option of the pass (aa-qa: ``top_k``)."""
        ...

    def describe(self, metadata: dict[str, Any]) -> dict[str, Any]:
        """Fields this task adds to the model's ``/v1/models`` entry (NaN/inf become null)."""
        ...

    def register_routes(self, app: Any, host: ServeHost) -> None:
        """Add this task's routes to the FastAPI ``app`` (called once per service, before it starts)."""
        ...


@runtime_checkable
class ServePageTask(Protocol):
    """A plugin's page: adds its routes to the service for the served checkpoints it can show."""

    def register_routes(self, app: Any, host: ServeHost, models: Sequence[ServedCheckpoint]) -> list[str]:
        """Add routes to the FastAPI ``app`` for those of ``models`` (every served checkpoint, in command-line
        order; not yet loaded) it can show, and return what it added in words for the start-up log (an empty
        list: none of them; then it adds no route). ``host.call`` runs work in the model thread."""
        ...
