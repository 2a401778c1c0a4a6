"""Writing specs back to TOML (resolved specs, registry show)."""
from __future__ import annotations

from typing import Any

import tomli_w


def _drop_none(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: _drop_none(v) for k, v in data.items() if v is not None}
    if isinstance(data, list):
        return [_drop_none(v) for v in data]
    return data


def dumps(data: dict[str, Any]) -> str:
    """TOML text of a spec; keys whose value is None (TOML has no null) are left out."""
    return tomli_w.dumps(_drop_none(data))
