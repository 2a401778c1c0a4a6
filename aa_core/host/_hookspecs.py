"""Hook specifications: the whole contract between the core and a plugin.

A plugin is a module named by an entry point in the group ``aa.plugins``; it implements
any of these hooks with ``@aa_core.plugin.hookimpl``. Keep that module free of heavy imports
(torch): name factories as ``"module:attr"`` strings so they load only when built.
Every hook is optional; a function marked ``@hookimpl`` whose name is not one of these is
an error (a misspelt hook would otherwise be ignored).
"""
from __future__ import annotations

from pathlib import Path

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
