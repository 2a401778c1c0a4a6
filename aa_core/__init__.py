"""AA core: protocols, plugin host, specs, registry and CLI for 3D cellular neural networks.

Importing this package is cheap (no torch); torch-backed pieces load on first use.
"""
from __future__ import annotations

from importlib import import_module
from typing import Any

from ._component import KINDS, Component
from ._errors import PluginError, Problem, SpecError, UserError
from ._hookspecs import hookimpl, hookspec
from ._version import __version__

__all__ = [
    "KINDS",
    "Component",
    "PluginError",
    "Problem",
    "SpecError",
    "UserError",
    "__version__",
    "hookimpl",
    "hookspec",
    "load_spec",
    "build_model",
    "BuildContext",
]

_LAZY = {
    "load_spec": "._spec",
    "validate": "._spec",
    "Spec": "._spec",
    "build_model": "._build",
    "BuildContext": "._build",
    "count_params": "._build",
    "registry": "._registry",
    "host": "._plugin_manager",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module 'aa_core' has no attribute {name!r}")
