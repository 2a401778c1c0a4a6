"""Hook specifications: the whole contract between the core and a plugin.

A plugin is a module named by an entry point in the group ``aa.plugins``; it implements
any of these hooks with ``@aa_core.plugin.hookimpl``. Keep that module free of heavy imports
(torch): name factories as ``"module:attr"`` strings so they load only when built.
Every hook is optional; a function marked ``@hookimpl`` whose name is not one of these (or of
the hooks a plugin adds with :func:`aa_add_hookspecs`) is an error (a misspelt hook would
otherwise be ignored).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pluggy

from ._component import Command, Component, Section, Task

PROJECT = "aa"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def aa_components() -> list[Component]:
    """Return the :class:`Component` objects this plugin provides.

    Every (kind, name) returned must also be declared in the distribution's
    ``aa.components`` entry-point group (``"cell.mycell" = "my_pkg._plugin"``), which is
    what ``aa plugins`` reads without importing anything; a mismatch is a load error.
    """


@hookspec
def aa_architectures() -> list[Path]:
    """Return folders holding architecture TOML files and a ``registry.lock`` (each must exist)."""


@hookspec
def aa_tasks() -> list[Task]:
    """Return the :class:`Task` objects (steps of ``aa run``) this plugin provides."""


@hookspec
def aa_spec_sections() -> list[Section]:
    """Return the :class:`Section` objects (non-component spec tables) this plugin provides."""


@hookspec
def aa_cli_commands() -> list[Command]:
    """Return the :class:`Command` objects (``aa`` subcommands) this plugin provides."""


@hookspec
def aa_add_hookspecs(host: Any) -> None:
    """Add hook specifications that other plugins implement (as pytest's ``pytest_addhooks``): call
    ``host.add_hookspecs(module)`` with a module or class of functions marked ``@aa_core.hookspec``.

    Called once, right after this plugin's hook module is registered. aa-serve adds
    ``aa_serve_handlers`` this way (:mod:`aa_serve.hookspecs`). A plugin implementing a hook of a
    plugin that may be missing marks it ``@hookimpl(optionalhook=True)``; without it, an
    implementation of a hook nobody specifies is a load error once every installed plugin has had
    its chance to add it (the hooks of :data:`PLUGIN_HOOKS`, first-party plugins' hooks, are
    ignored while their plugin is not installed).
    """


#: hooks that first-party plugins specify (through ``aa_add_hookspecs``) → the distribution that does:
#: implementing one while that distribution is not installed is no error (nothing calls the hook).
PLUGIN_HOOKS = {"aa_serve_handlers": "aa-serve", "aa_serve_pages": "aa-serve"}
