"""Hook implementations of aa-inspect (torch- and matplotlib-free: the command module loads lazily)."""
from __future__ import annotations

from aa_core.plugin import Command, hookimpl


@hookimpl
def aa_cli_commands() -> list[Command]:
    return [Command("inspect", "aa_inspect.cli", "picture what happens inside the lattice for one dataset example or text")]
