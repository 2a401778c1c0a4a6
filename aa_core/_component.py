"""The descriptor a plugin returns for each component it provides."""
from __future__ import annotations

import importlib
from typing import Any, Callable

import attrs

KINDS = ("geometry", "cell", "propagator", "tokenizer", "adapter", "decoder", "pipeline")


@attrs.frozen
class Component:
    """A buildable component: its (kind, name), attrs config class and a factory.

    ``build`` is ``"module:attr"`` (imported only when the component is built, so that a
    plugin's hook module stays free of torch) or a callable ``build(config, ctx, **kw)``.
    """

    kind: str = attrs.field(validator=attrs.validators.in_(KINDS))
    name: str
    config: type
    build: str | Callable[..., Any]
    description: str = ""

    def factory(self) -> Callable[..., Any]:
        if callable(self.build):
            return self.build
        module, _, attr = self.build.partition(":")
        obj: Any = importlib.import_module(module)
        for part in attr.split("."):
            obj = getattr(obj, part)
        return obj
