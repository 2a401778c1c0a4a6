"""Hook implementations (torch-free: factories are "module:attr" strings loaded when built)."""
from __future__ import annotations

from aa_core.plugin import Component, hookimpl

from .growth_config import EmojiGrowthConfig, GrowingNCACellConfig, GrowthConfig, GrowthObjectiveConfig, VoxelGrowthConfig


@hookimpl
def aa_components() -> list[Component]:
    return [
        Component("cell", "growing_nca", GrowingNCACellConfig, "aa_ca.nca_cell:build",
                  "Growing-NCA cell: identity+Sobel or learned depthwise perception, 1×1 MLP, zero-init last layer"),
        Component("pipeline", "growth", GrowthConfig, "aa_ca.growth:build",
                  "seed → T nca steps (random T in training) → the grown state"),
        Component("dataset", "voxel_growth", VoxelGrowthConfig, "aa_ca.voxel:build",
                  "3D growth of a Minecraft structure (NBT) with a sample pool", defaults={"objective": "voxel_growth"}),
        Component("dataset", "emoji_growth", EmojiGrowthConfig, "aa_ca.emoji:build",
                  "Growing NCA on a Noto Color Emoji (Pillow) with a sample pool", defaults={"objective": "emoji_growth"}),
        Component("objective", "voxel_growth", GrowthObjectiveConfig, "aa_ca.growth_objectives:build_voxel",
                  "class cross-entropy + alive term ([dataset] loss); 1 − IoU (selects); test: grown, persisted, damaged, regrown"),
        Component("objective", "emoji_growth", GrowthObjectiveConfig, "aa_ca.growth_objectives:build_emoji",
                  "RGBA MSE (Distill); test: grown, persisted, damaged, regrown"),
    ]
