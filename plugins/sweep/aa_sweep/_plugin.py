"""Hook implementations of aa-sweep (torch- and optuna-free: the command module loads lazily)."""
from __future__ import annotations

from aa_core.plugin import Command, hookimpl


@hookimpl
def aa_cli_commands() -> list[Command]:
    return [Command("sweep", "aa_sweep.cli", "run a grid or search over --set keys × seeds (Optuna storage, resumable)")]
