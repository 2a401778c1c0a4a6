"""Building any registered component with its default config on a small lattice."""
from __future__ import annotations

from typing import Any

from ..assemble import BuildContext
from ..host import MULTI_KINDS
from ..spec import validate

SMALL_DEFAULTS: dict[str, dict[str, Any]] = {
    "geometry": {"name": "lattice", "size": [4, 4, 3]},
    "cell": {"name": "mlp", "channels": 6, "hidden": 12},
    "propagator": {"name": "nca", "steps": 2},
}


def small_spec(kind: str, name: str, config: dict[str, Any] | None = None, base: dict[str, Any] | None = None) -> dict[str, Any]:
    """A raw spec: small defaults for geometry, cell and propagator, with ``kind.name`` swapped in."""
    raw = {k: dict(v) for k, v in SMALL_DEFAULTS.items()}
    for k, v in (base or {}).items():
        raw[k] = dict(v)
    raw[kind] = {"name": name, **(config or {})}
    return raw


def build_registered(kind: str, name: str, config: dict[str, Any] | None = None, base: dict[str, Any] | None = None,
                     **kw: Any) -> tuple[Any, BuildContext]:
    """(component, ctx) for kind.name built with its defaults (plus ``config``) on a small lattice.

    Adapters are built as 12 → 20 unless ``in_dim``/``out_dim`` are given.
    """
    if kind in MULTI_KINDS:  # a callback: its own [callbacks.NAME] table, built from it
        spec = validate({**small_spec("geometry", "lattice", SMALL_DEFAULTS["geometry"], base), "callbacks": {name: config or {}}},
                        source=f"<conformance {kind}.{name}>")
        ctx = BuildContext(spec)
        reg, cfg = spec.callbacks[name]
        return reg.component.factory()(cfg, ctx, **kw), ctx
    spec = validate(small_spec(kind, name, config, base), source=f"<conformance {kind}.{name}>")
    ctx = BuildContext(spec)
    if kind == "adapter":
        kw = {"in_dim": 12, "out_dim": 20, **kw}
    return ctx.build(kind, key="conformance" if kw else None, **kw), ctx


def lattice(size: tuple[int, int, int] = (4, 4, 3), neighbourhood: int = 26, boundary: str = "zero", **settings: Any) -> Any:
    """The core's ``lattice`` geometry (for a cell's or propagator's own tests), built from its config."""
    from ..lattice.config import LatticeConfig
    from ..lattice.geometry import Lattice

    return Lattice(LatticeConfig(size=list(size), neighbourhood=neighbourhood, boundary=boundary, **settings))
