"""Building any registered component with its default config on a small lattice."""
from __future__ import annotations

from typing import Any

from ..assemble import BuildContext
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
    spec = validate(small_spec(kind, name, config, base), source=f"<conformance {kind}.{name}>")
    ctx = BuildContext(spec)
    if kind == "adapter":
        kw = {"in_dim": 12, "out_dim": 20, **kw}
    return ctx.build(kind, key="conformance" if kw else None, **kw), ctx
