"""Hook implementations of aa-export (torch-free): the ``aa export`` command and aa-serve's ``/live`` page."""
from __future__ import annotations

from typing import Any

from aa_core.plugin import Command, hookimpl


@hookimpl
def aa_cli_commands() -> list[Command]:
    return [Command("export", "aa_export.cli", "a trained lattice model's step as ONNX, Distill demo weights or a self-contained live HTML page")]


@hookimpl(optionalhook=True)  # aa-serve specifies this hook; without it (pip install aa-export alone) it is never called
def aa_serve_pages() -> list[Any]:
    from aa_serve import ServePage

    return [ServePage("live", "aa_export.live:LivePage", description="/live: a growth checkpoint running in the browser")]
