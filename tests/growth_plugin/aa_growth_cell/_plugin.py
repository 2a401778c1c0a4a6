from aa_core.plugin import Component, hookimpl

from .config import GrowthConfig


@hookimpl
def aa_components():
    return [Component("cell", "growth", GrowthConfig, "aa_growth_cell.cell:build", "Lenia-like depthwise growth cell, clamped to [0, 1]")]
