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
from ._serve import ServeHandler

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
def aa_serve_handlers() -> list[ServeHandler]:
    """Return the :class:`ServeHandler` objects: how ``aa serve`` serves this plugin's task's checkpoints.

    ``aa serve`` is a host (settings, model thread, dynamic batching, API key, limits, metrics, JSON
    errors, drain on SIGTERM, ``/v1/models``, ``/health/*``, ``/metrics``); a task makes its checkpoints
    servable here, as datasette plugins add routes. For each ``--checkpoint`` the service picks the one
    handler that :meth:`ServeHandler.claims` it (by its spec's ``dataset`` name, or a section for older
    checkpoints); none or two is an error naming the checkpoint and the handlers (exit 2, before binding).
    Each handler in use is built once (:meth:`ServeHandler.build`, a :class:`ServeTask`): its
    ``register_routes(app, host)`` adds its FastAPI routes, which find their model with ``host.pick``
    and run it with ``host.predict`` (batched) or ``host.call``; ``load`` restores each of its
    checkpoints in the model thread, ``predict`` answers one batch there, ``describe`` adds fields to
    ``/v1/models``. Handler names must differ between the handlers serving one service.
    """
