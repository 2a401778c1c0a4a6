"""Hook implementations of this plugin (kept free of torch: factories load lazily)."""
from pathlib import Path

from aa_core.plugin import Component, hookimpl

from .config import GMLPCellConfig


@hookimpl
def aa_components():
    return [
        Component(
            "cell",
            "gmlp",
            GMLPCellConfig,
            "aa_gmlp.cell:build",
            "gMLP cell: Spatial Gating Unit over the neighbourhood (Liu et al. 2021), lattice-wide conv form",
        )
    ]


@hookimpl
def aa_architectures():
    return [Path(__file__).parent / "architectures"]
