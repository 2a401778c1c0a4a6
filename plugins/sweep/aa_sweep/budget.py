"""Parameter-budget matching: scale one width key of a configuration until its model has about as many
parameters as a reference (±10 %), so that a comparison is between models of the same size.

Models are built on torch's meta device (no weights allocated), so any size is measured in well under
a second. An integer key is set to the closest integer, a list of integers (``hidden = [64, 64]``) is
scaled as a whole (every width by the same factor).
"""
from __future__ import annotations

import json
from typing import Any

from aa_core.plugin import UserError

TOLERANCE = 0.10


def params_of(spec_path: str, overrides: list[str]) -> int:
    """Parameters of the model a spec with ``overrides`` builds (meta device)."""
    from aa_core.run import build_model, count_params, load_spec

    model, _ = build_model(load_spec(spec_path, overrides), meta=True)
    return int(count_params(model))


def current_value(spec_path: str, overrides: list[str], key: str) -> Any:
    """The resolved value of ``key`` (``cell.hidden``) in the spec with ``overrides``."""
    from aa_core.run import load_spec

    node: Any = load_spec(spec_path, overrides).resolved()
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            raise UserError(f"--match-params {key}: the spec has no such key after its overrides ({spec_path}); name a width "
                            "of the model, e.g. --match-params cell.hidden")
        node = node[part]
    if isinstance(node, bool) or not (isinstance(node, int) or (isinstance(node, list) and node and all(isinstance(v, int) for v in node))):
        raise UserError(f"--match-params {key}: its value {node!r} is not an integer or a list of integers")
    return node


def _scaled(value: Any, factor: float) -> Any:
    if isinstance(value, list):
        return [max(1, round(v * factor)) for v in value]
    return max(1, round(value * factor))


def match(spec_path: str, overrides: list[str], key: str, target: int, tolerance: float = TOLERANCE) -> tuple[str, int]:
    """(``KEY=VALUE`` override, parameter count) of the value of ``key`` whose model is closest to ``target``
    parameters; a UserError when no value lands within ``tolerance`` (the closest one named)."""
    base = current_value(spec_path, overrides, key)
    seen: dict[str, int] = {}

    def count(value: Any) -> int:
        text = json.dumps(value)
        if text not in seen:
            seen[text] = params_of(spec_path, [*overrides, f"{key}={text}"])
        return seen[text]

    lo, hi = 1.0 / 64, 64.0  # the scale factor, bisected on a log scale (parameters grow with width)
    for _ in range(30):
        mid = (lo * hi) ** 0.5
        if count(_scaled(base, mid)) < target:
            lo = mid
        else:
            hi = mid
    candidates = {json.dumps(_scaled(base, f)): _scaled(base, f) for f in (lo, hi)}
    if isinstance(base, int):  # the integers around the bisection's answer
        around = _scaled(base, hi)
        candidates.update({json.dumps(v): v for v in range(max(1, around - 2), around + 3)})
    best = min(candidates.values(), key=lambda v: abs(count(v) - target))
    n = count(best)
    if abs(n / target - 1) > tolerance:
        raise UserError(f"--match-params {key}: no value brings the model within ±{tolerance:.0%} of {target:,} parameters "
                        f"(closest: {key}={json.dumps(best)} with {n:,}); scale another key, or give the configuration a "
                        "different shape")
    return f"{key}={json.dumps(best)}", n
