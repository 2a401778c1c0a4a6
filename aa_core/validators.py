"""attrs validators for config fields whose messages read well in spec errors.

Each takes ``(instance, attribute, value)`` like any attrs validator; ``None`` passes (for
optional fields), and lists are checked item by item. NaN fails every numeric check.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

from ._text import did_you_mean

Validator = Callable[[Any, Any, Any], None]


def _items(value: Any) -> list[Any]:
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _is_nan(v: Any) -> bool:
    return isinstance(v, float) and math.isnan(v)


def finite(_inst: Any, _attr: Any, value: Any) -> None:
    """Not NaN and not ±inf."""
    for v in _items(value):
        if isinstance(v, float) and not math.isfinite(v):
            raise ValueError(f"must be a finite number, got {value!r}")


def positive(_inst: Any, _attr: Any, value: Any) -> None:
    """> 0 (and not NaN)."""
    for v in _items(value):
        if v is not None and (_is_nan(v) or v <= 0):
            raise ValueError(f"must be > 0, got {value!r}")


def non_negative(_inst: Any, _attr: Any, value: Any) -> None:
    """>= 0 (and not NaN)."""
    for v in _items(value):
        if v is not None and (_is_nan(v) or v < 0):
            raise ValueError(f"must be >= 0, got {value!r}")


def in_range(lo: float, hi: float) -> Validator:
    """lo <= value <= hi (and not NaN)."""

    def check(_inst: Any, _attr: Any, value: Any) -> None:
        for v in _items(value):
            if v is not None and (_is_nan(v) or not lo <= v <= hi):
                raise ValueError(f"must be between {lo} and {hi}, got {value!r}")

    return check


def one_of(choices: Iterable[Any]) -> Validator:
    """One of ``choices`` (with a did-you-mean for strings)."""
    allowed = tuple(choices)

    def check(_inst: Any, _attr: Any, value: Any) -> None:
        if value not in allowed:
            hint = did_you_mean(value, [str(c) for c in allowed]) if isinstance(value, str) else ""
            raise ValueError(f"must be one of {', '.join(repr(c) for c in allowed)}, got {value!r}{hint}")

    return check


def length(n: int) -> Validator:
    """A list of exactly ``n`` items."""

    def check(_inst: Any, _attr: Any, value: Any) -> None:
        if value is not None and len(value) != n:
            raise ValueError(f"must have {n} items, got {len(value)}")

    return check
