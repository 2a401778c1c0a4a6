"""What a plugin contributes: components, tasks, spec sections and subcommands (descriptors)."""
from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import attrs

# One component of each kind per spec, in build order. The first nine define the model (its hash);
# the dataset is what it is trained on and the objective the maths it is trained with.
KINDS = ("geometry", "cell", "propagator", "tokenizer", "subword", "encoder", "adapter", "decoder", "pipeline", "dataset", "objective")
MODEL_KINDS = KINDS[:-2]
# Kinds a spec names several of, in their own table (``[callbacks.NAME]``), not one per spec.
MULTI_KINDS = ("callback",)


def resolve(ref: str | Callable[..., Any]) -> Any:
    """A ``"module:attr.path"`` reference imported on demand (callables pass through)."""
    if not isinstance(ref, str):
        return ref
    module, _, attr = ref.partition(":")
    obj: Any = importlib.import_module(module)
    for part in attr.split(".") if attr else []:
        obj = getattr(obj, part)
    return obj


@attrs.frozen
class Component:
    """A buildable component: its (kind, name), attrs config class and a factory.

    ``build`` is ``"module:attr"`` (imported only when the component is built, so that a
    plugin's hook module stays free of torch) or a callable ``build(config, ctx, **kw)``.
    """

    kind: str = attrs.field(validator=attrs.validators.in_(KINDS + MULTI_KINDS))
    name: str
    config: type
    build: str | Callable[..., Any]
    description: str = ""
    # kind → component name that a spec naming this component gets for a kind it leaves out
    # (a dataset brings its objective); like Section.defaults, it follows from the spec's text
    defaults: dict[str, str] = attrs.field(factory=dict)
    # spec sections this component reads (e.g. aa-qa's objective: ("qa_loss",)): resolved with their
    # defaults when a spec uses the component, compared on resume; never resolved otherwise
    sections: tuple[str, ...] = ()

    def factory(self) -> Callable[..., Any]:
        return resolve(self.build)


@attrs.frozen
class Task:
    """A step of ``aa run`` (``[run] tasks = [...]``): ``run(spec, state)`` with a shared state dict.

    ``needs`` names spec sections that must be present (e.g. ``("data",)``); ``sections`` names those
    it reads, resolved with their defaults when a spec runs the task. ``memory`` (optional,
    ``"module:attr"`` or callable) is ``memory(spec, model, ctx) -> bytes``: the task's peak-memory
    estimate, given the model built on the meta device; ``aa check`` shows it and ``aa run`` refuses a
    task whose estimate exceeds the memory available (unless ``--force``), before allocating anything.
    """

    name: str
    run: str | Callable[..., Any]
    description: str = ""
    needs: tuple[str, ...] = ()
    memory: str | Callable[..., Any] | None = None
    sections: tuple[str, ...] = ()


@attrs.frozen
class Section:
    """A spec section that is not a component, e.g. ``[train]``: its table is structured into ``config``.

    An ``optional`` section is validated only when present; the others get their defaults.
    ``defaults`` (kind → component name) are the components a spec that *has* this section gets
    for the kinds it leaves out (aa-qa's ``[data]``: the teacher tokenizer, the
    ``direct_embedding`` pipeline, the ``qa_pairs`` dataset), so a spec's defaults follow from its
    own text, never from what else is installed. ``moved`` maps an old key (``"train.temperature"``)
    to this section's field that replaced it: the old key still works, with a DeprecationWarning
    naming the new one and the aa-core release that removes it (``aa_core._deprecated.REMOVE_IN``,
    the deprecation policy in docs/write-a-cell.md).
    """

    name: str
    config: type
    description: str = ""
    optional: bool = False
    defaults: dict[str, str] = attrs.field(factory=dict)
    moved: dict[str, str] = attrs.field(factory=dict)


@attrs.frozen
class Command:
    """An ``aa`` subcommand: ``module`` defines ``add_parser(subparsers)`` and ``main(args) -> int``."""

    name: str
    module: str
    help: str = ""
