"""Small attrs validators whose messages read well in spec errors."""
from __future__ import annotations

from typing import Any, Iterable


def positive(_inst: Any, attr: Any, value: Any) -> None:
    items = value if isinstance(value, (list, tuple)) else [value]
    for v in items:
        if v is not None and v <= 0:
            raise ValueError(f"must be > 0, got {value!r}")


def non_negative(_inst: Any, attr: Any, value: Any) -> None:
    if value is not None and value < 0:
        raise ValueError(f"must be >= 0, got {value!r}")


def in_range(lo: float, hi: float):
    def check(_inst: Any, attr: Any, value: Any) -> None:
        if value is not None and not lo <= value <= hi:
            raise ValueError(f"must be between {lo} and {hi}, got {value!r}")

    return check


def one_of(choices: Iterable[Any]):
    allowed = tuple(choices)

    def check(_inst: Any, attr: Any, value: Any) -> None:
        if value not in allowed:
            from ._convert import did_you_mean

            hint = did_you_mean(value, [str(c) for c in allowed]) if isinstance(value, str) else ""
            raise ValueError(f"must be one of {', '.join(repr(c) for c in allowed)}, got {value!r}{hint}")

    return check


def length(n: int):
    def check(_inst: Any, attr: Any, value: Any) -> None:
        if value is not None and len(value) != n:
            raise ValueError(f"must have {n} items, got {len(value)}")

    return check
