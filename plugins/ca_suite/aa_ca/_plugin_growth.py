"""Hook implementations (torch-free: factories are "module:attr" strings loaded when built).

The growth half of the suite: the ``voxel_growth`` (``[voxel]`` extra: nbtlib) and ``emoji_growth``
(``[emoji]`` extra: Pillow) datasets, each with its objective. Their model is aa-nca's: the ``growth``
pipeline and the ``growing_nca`` cell (any cell that fits the state's channels trains too).
"""
from __future__ import annotations

from aa_core.plugin import Component, hookimpl
from aa_nca.config import GrowthObjectiveConfig

from .growth_config import EmojiGrowthConfig, VoxelGrowthConfig


@hookimpl
def aa_components() -> list[Component]:
    return [
        Component("dataset", "voxel_growth", VoxelGrowthConfig, "aa_ca.voxel:build",
                  "3D growth of a Minecraft structure (NBT) with a sample pool", defaults={"objective": "voxel_growth"}),
        Component("dataset", "emoji_growth", EmojiGrowthConfig, "aa_ca.emoji:build",
                  "Growing NCA on a Noto Color Emoji (Pillow) with a sample pool", defaults={"objective": "emoji_growth"}),
        Component("objective", "voxel_growth", GrowthObjectiveConfig, "aa_ca.growth_objectives:build_voxel",
                  "class cross-entropy + alive term ([dataset] loss); 1 − IoU (selects); test: grown, persisted, damaged, regrown"),
        Component("objective", "emoji_growth", GrowthObjectiveConfig, "aa_ca.growth_objectives:build_emoji",
                  "RGBA MSE (Distill); test: grown, persisted, damaged, regrown"),
    ]
