"""Key-by-key differences between two specs."""
from __future__ import annotations

from typing import Any


def flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in data.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, key + "."))
        else:
            out[key] = v
    return out


def diff_specs(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    """Lines ``- key = old`` / ``+ key = new`` for each key that differs."""
    fa, fb = flatten(a), flatten(b)
    lines = []
    for key in sorted(set(fa) | set(fb)):
        if fa.get(key, object()) == fb.get(key, object()):
            continue
        if key in fa:
            lines.append(f"- {key} = {fa[key]!r}")
        if key in fb:
            lines.append(f"+ {key} = {fb[key]!r}")
    return lines
