"""Assembling a model from a validated spec: each component built once, in dependency order."""
from __future__ import annotations

from typing import Any

from ._errors import UserError
from ._spec import Spec


class BuildContext:
    """What a component factory receives: the spec and access to the other components.

    Factories call ``ctx.geometry``, ``ctx.cell`` … to get (and build on first use) the
    component of that kind, or ``ctx.build(kind, key=..., **kw)`` for another instance
    (e.g. the pipeline's write and read adapters).
    """

    def __init__(self, spec: Spec):
        self.spec = spec
        self.built: dict[str, Any] = {}

    def build(self, kind: str, key: str | None = None, **kw: Any) -> Any:
        slot = f"{kind}:{key}" if key else kind
        if slot not in self.built:
            if kind not in self.spec.components:
                raise UserError(f"this model needs a [{kind}] section in {self.spec.source}")
            reg, cfg = self.spec.components[kind]
            self.built[slot] = reg.component.factory()(cfg, self, **kw)
        return self.built[slot]

    def has(self, kind: str) -> bool:
        return kind in self.spec.components

    @property
    def geometry(self):
        return self.build("geometry")

    @property
    def cell(self):
        return self.build("cell")

    @property
    def propagator(self):
        return self.build("propagator")

    @property
    def tokenizer(self):
        return self.build("tokenizer")

    @property
    def embedding_dim(self) -> int:
        return self.tokenizer.embedding_dim


def build_model(spec: Spec, meta: bool = False) -> tuple[Any, BuildContext]:
    """The pipeline module for a spec, plus the context holding every built component.

    With ``meta`` the geometry's index sets are built for real and every module on torch's
    meta device: shapes and parameter counts without allocating weights (any lattice size).
    """
    ctx = BuildContext(spec)
    if not meta:
        return ctx.build("pipeline"), ctx
    import torch

    geometry = ctx.geometry
    for attr in ("input_cells", "output_cells"):
        getattr(geometry, attr, None)
    with torch.device("meta"):
        model = ctx.build("pipeline")
    return model, ctx


def count_params(module: Any) -> int:
    return sum(p.numel() for p in module.parameters()) if hasattr(module, "parameters") else 0
