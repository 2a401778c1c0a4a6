"""Hook specifications: the whole contract between the core and a plugin.

A plugin is a module named by an entry point in the group ``aa.plugins``; it implements
any of these hooks with ``@aa_core.hookimpl``. Keep that module free of heavy imports
(torch): name factories as ``"module:attr"`` strings so they load only when built.
"""
from __future__ import annotations

import pluggy

hookspec = pluggy.HookspecMarker("aa")
hookimpl = pluggy.HookimplMarker("aa")


@hookspec
def aa_components() -> list:
    """Return the :class:`aa_core.Component` objects this plugin provides.

    Every (kind, name) returned must also be declared in the distribution's
    ``aa.components`` entry-point group (``"cell.mycell" = "my_pkg._plugin"``), which is
    what ``aa plugins`` reads without importing anything.
    """


@hookspec
def aa_architectures() -> list:
    """Return directories (``pathlib.Path``) holding architecture TOML files and a ``registry.lock``."""
