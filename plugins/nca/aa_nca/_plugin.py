"""Hook implementations (torch-free: factories are "module:attr" strings loaded when built)."""
from __future__ import annotations

from aa_core.plugin import Component, hookimpl

from .config import GrowingNCACellConfig, GrowthConfig


@hookimpl
def aa_components() -> list[Component]:
    return [
        Component("cell", "growing_nca", GrowingNCACellConfig, "aa_nca.cell:build",
                  "Growing-NCA cell: identity+Sobel or learned depthwise perception, 1×1 MLP, zero-init last layer"),
        Component("pipeline", "growth", GrowthConfig, "aa_nca.growth:build",
                  "seed → T nca steps (random T in training) → the grown state"),
    ]
