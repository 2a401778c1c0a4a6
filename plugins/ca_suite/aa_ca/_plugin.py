"""Hook implementations (torch-free: factories are "module:attr" strings loaded when built)."""
from __future__ import annotations

from aa_core.plugin import Component, hookimpl


@hookimpl
def aa_components() -> list[Component]:
    return []
