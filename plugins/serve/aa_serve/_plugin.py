"""Hook implementations of aa-serve (torch-free): the `aa serve` command, the ``aa_serve_handlers`` hook
it adds for task plugins, and the generic handler (``POST /v1/predict``) for every dataset that
describes its inputs and predictions."""
from __future__ import annotations

from typing import Any

from aa_core.plugin import Command, hookimpl

from .api import ServeHandler


@hookimpl
def aa_cli_commands() -> list[Command]:
    return [Command("serve", "aa_serve.cli", "serve checkpoints over HTTP (REST, batching, metrics, demo page)")]


@hookimpl
def aa_add_hookspecs(host: Any) -> None:
    from . import hookspecs

    host.add_hookspecs(hookspecs)


@hookimpl
def aa_serve_handlers() -> list[ServeHandler]:
    return [ServeHandler("predict", "aa_serve.generic:GenericServing", fallback=True,
                         description="any dataset that describes its inputs and predictions: POST /v1/predict")]
