"""Hook implementations of aa-serve (torch-free): the `aa serve` command."""
from __future__ import annotations

from aa_core.plugin import Command, hookimpl


@hookimpl
def aa_cli_commands() -> list[Command]:
    return [Command("serve", "aa_serve.cli", "serve checkpoints over HTTP (REST, batching, metrics, demo page)")]
