"""Hook implementations (torch-free: factories are "module:attr" strings loaded when built)."""
from __future__ import annotations

from aa_core.plugin import Component, hookimpl

from .growth_config import EmojiGrowthConfig, GrowingNCACellConfig, GrowthConfig, VoxelGrowthConfig


@hookimpl
def aa_components() -> list[Component]:
    return [
        Component("cell", "growing_nca", GrowingNCACellConfig, "aa_ca.nca_cell:build",
                  "Growing-NCA cell: identity+Sobel or learned depthwise perception, 1×1 MLP, zero-init last layer"),
        Component("pipeline", "growth", GrowthConfig, "aa_ca.growth:build",
                  "seed → T nca steps (random T in training) → the grown state"),
        Component("dataset", "voxel_growth", VoxelGrowthConfig, "aa_ca.voxel:build",
                  "3D growth of a Minecraft structure (NBT) with a sample pool"),
        Component("dataset", "emoji_growth", EmojiGrowthConfig, "aa_ca.emoji:build",
                  "Growing NCA on a Noto Color Emoji (Pillow) with a sample pool"),
    ]
