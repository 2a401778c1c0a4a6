"""Assembling a model from a validated spec: each component built once, on first use."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .._errors import UserError
from ..host import host
from ..spec import Spec, validate

if TYPE_CHECKING:
    from ..architectures import Architecture
    from ..protocols import Cell, Geometry, Propagator, Tokenizer


class BuildContext:
    """What a component factory receives: the spec and access to the other components.

    Factories call ``ctx.geometry``, ``ctx.cell`` … to get (and build on first use) the
    component of that kind, or ``ctx.build(kind, key=..., **kw)`` for another instance
    (e.g. the pipeline's write and read adapters). ``built`` maps each slot (``kind`` or
    ``kind:key``) to its component, in build order.
    """

    def __init__(self, spec: Spec):
        self.spec = spec
        self.built: dict[str, Any] = {}

    def build(self, kind: str, key: str | None = None, default: str | None = None, **kw: Any) -> Any:
        """The component of ``kind`` (another instance with ``key``); ``default`` names the component
        (with its default config) to build when the spec has no ``[kind]`` table."""
        slot = f"{kind}:{key}" if key else kind
        if slot not in self.built:
            if kind in self.spec.components:
                reg, cfg = self.spec.components[kind]
            elif default is not None:
                reg = host().get(kind, default, f"{kind}.name")
                cfg = reg.component.config()
            else:
                raise UserError(f"this model needs a [{kind}] section in {self.spec.source}")
            self.built[slot] = reg.component.factory()(cfg, self, **kw)
        return self.built[slot]

    def has(self, kind: str) -> bool:
        return kind in self.spec.components

    @property
    def geometry(self) -> Geometry:
        return self.build("geometry")

    @property
    def cell(self) -> Cell:
        return self.build("cell")

    @property
    def propagator(self) -> Propagator:
        return self.build("propagator")

    @property
    def tokenizer(self) -> Tokenizer:
        return self.build("tokenizer")

    @property
    def embedding_dim(self) -> int:
        return self.tokenizer.embedding_dim


def model_kind(spec: Spec) -> str:
    """The component that is "the model" of a spec: its pipeline, or (a lattice-only spec) its propagator."""
    return "pipeline" if "pipeline" in spec.components else "propagator"


def build_model(spec: Spec, meta: bool = False) -> tuple[Any, BuildContext]:
    """The model of a spec (see :func:`model_kind`), plus the context holding every built component.

    With ``meta`` the geometry's index sets are built for real and every module on torch's
    meta device: shapes and parameter counts without allocating weights (any lattice size).
    """
    ctx = BuildContext(spec)
    if not meta:
        return ctx.build(model_kind(spec)), ctx
    import torch

    geometry = ctx.geometry
    for attr in ("input_cells", "output_cells"):
        getattr(geometry, attr, None)
    with torch.device("meta"):
        model = ctx.build(model_kind(spec))
    return model, ctx


def count_params(module: Any) -> int:
    return sum(p.numel() for p in module.parameters()) if hasattr(module, "parameters") else 0


def architecture_spec(arch: Architecture) -> Spec:
    """The validated spec of an architecture (its tables, defaults filled in)."""
    return validate(dict(arch.spec), arch.path)


def count_architecture_params(arch: Architecture, meta: bool = True) -> int:
    """Parameter count of an architecture's model, built on the meta device (any lattice size)."""
    return count_params(build_model(architecture_spec(arch), meta=meta)[0])
