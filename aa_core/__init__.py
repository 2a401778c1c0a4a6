"""AA core: protocols, plugin host, specs, architecture registry, checkpoints and CLI for 3D
cellular neural networks.

Importing this package is cheap (no torch); the names below load their modules on first use.
Plugin authors import from :mod:`aa_core.plugin` (the plugin API), :mod:`aa_core.protocols`
(the contract) and :mod:`aa_core.conformance` (the test kit).
"""
from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from ._errors import PluginError, Problem, SpecError, UserError
from ._version import __version__
from .host import KINDS, Component, hookimpl, hookspec

if TYPE_CHECKING:
    from .architectures import registry
    from .assemble import BuildContext, build_model, count_params
    from .host import host
    from .spec import Spec, load_spec, validate

__all__ = [
    "KINDS",
    "BuildContext",
    "Component",
    "PluginError",
    "Problem",
    "Spec",
    "SpecError",
    "UserError",
    "__version__",
    "build_model",
    "count_params",
    "hookimpl",
    "hookspec",
    "host",
    "load_spec",
    "registry",
    "validate",
]

_LAZY = {
    "load_spec": ".spec",
    "validate": ".spec",
    "Spec": ".spec",
    "build_model": ".assemble",
    "BuildContext": ".assemble",
    "count_params": ".assemble",
    "registry": ".architectures",
    "host": ".host",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module 'aa_core' has no attribute {name!r}")
