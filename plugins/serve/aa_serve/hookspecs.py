"""The hooks aa-serve adds for plugins (through the core's ``aa_add_hookspecs``): ``aa_serve_handlers`` (a
task's routes) and ``aa_serve_pages`` (pages beside them, e.g. aa-export's ``/live``).

A plugin whose checkpoints need their own routes implements it with ``@aa_core.plugin.hookimpl``;
one that may be installed without aa-serve imports :class:`aa_serve.ServeHandler` inside the hook
(the hook is only called when aa-serve is installed).
"""
from __future__ import annotations

from aa_core.plugin import hookspec

from .api import ServeHandler, ServePage


@hookspec
def aa_serve_handlers() -> list[ServeHandler]:
    """Return the :class:`~aa_serve.ServeHandler` objects: how ``aa serve`` serves this plugin's task's checkpoints.

    ``aa serve`` is a host (settings, model thread, dynamic batching, API key, limits, metrics, JSON
    errors, drain on SIGTERM, ``/v1/models``, ``/health/*``, ``/metrics``); a task makes its checkpoints
    servable here, as datasette plugins add routes. For each ``--checkpoint`` the service picks the one
    handler that :meth:`ServeHandler.claims` it (by its spec's ``dataset`` name, or a section for older
    checkpoints; aa-serve's generic ``predict`` handler takes any other checkpoint whose dataset is a
    :class:`aa_core.protocols.ServableDataset`); none or two is an error naming the checkpoint and the
    handlers (exit 2, before binding). Each handler in use is built once (:meth:`ServeHandler.build`, a
    :class:`~aa_serve.ServeTask`): its ``register_routes(app, host)`` adds its FastAPI routes, which find
    their model with ``host.pick`` and run it with ``host.predict`` (batched) or ``host.call``; ``load``
    restores each of its checkpoints in the model thread, ``predict`` answers one batch there,
    ``describe`` adds fields to ``/v1/models``, ``options()`` (optional) declares its settings. Handler
    names must differ between the handlers serving one service.
    """


@hookspec
def aa_serve_pages() -> list[ServePage]:
    """Return :class:`~aa_serve.ServePage` objects: routes added to every service beside the handlers'.

    Each page in an installed plugin is built once per service (:meth:`ServePage.build`, a
    :class:`~aa_serve.ServePageTask`) after the handlers have added their routes; its
    ``register_routes(app, host, models)`` sees every served checkpoint and adds routes only for those it
    can show (aa-export: ``/live`` for growth checkpoints). A page that fails to build or register is
    reported on stderr, naming its distribution, and left out: the service still starts.
    """
