"""The ``voxel_growth`` dataset: grow a Minecraft structure from one seed voxel (Sudhakaran et al. 2021).

A structure file (NBT, read with nbtlib: a palette of block states and blocks with positions)
becomes a class per cell: 0 = air, then the structure's block names in palette order (block
states with the same name, e.g. two facings of a dispenser, are one class). The lattice is the
structure's size (plus ``pad`` air cells on every side), in the file's (x, y, z) axes.

State channels: ``[0, K)`` class logits (K classes incl. air), ``K`` alive, then the hidden
channels (12 + 7 + 1 = 20 for the caterpillar). The seed is one cell at the lattice's centre with
alive and hidden channels at 1. A cell is occupied when its most likely class is not air; dead
cells are zero, so they read as air. The loss (``[dataset] loss``, ``alive_weight``) and the
metrics (1 − IoU of occupancy, the published curve; class accuracy) are the ``voxel_growth``
objective (:mod:`aa_ca.growth_objectives`): ``loss = "balanced"`` is the class balance of the
authors' trainer (half the mean cross-entropy over the structure's voxels, half over the air),
plus an alive term the authors' loss lacks (without it the seed can die early, after which no
gradient flows).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from aa_core.plugin import UserError

from .growth import GrowthDataset
from .growth_config import VoxelGrowthConfig
from .growth_objectives import class_accuracy, iou_error, predicted, voxel_losses
from .pool import SamplePool

AIR = "minecraft:air"


def shared_data() -> Path:
    """``../shared/data`` beside the repository (this file is ``<repo>/plugins/ca_suite/aa_ca/voxel.py``)."""
    return Path(__file__).resolve().parents[4] / "shared" / "data"


def default_path(structure: str) -> Path:
    return shared_data() / "voxel-artefacts" / f"{structure}.nbt"


def load_structure(path: str | Path) -> tuple[torch.Tensor, list[str]]:
    """An NBT structure → (long ``[X, Y, Z]`` class ids, class names with ``names[0]`` = air)."""
    import nbtlib

    path = Path(path)
    if not path.is_file():
        raise UserError(f"voxel_growth: no structure file at {path}; set [dataset] path to a Minecraft .nbt "
                        "structure file (e.g. ../shared/data/voxel-artefacts/caterpillar_short.nbt)")
    try:
        nbt = nbtlib.load(str(path))
        size = [int(v) for v in nbt["size"]]
        palette = [str(p["Name"]) for p in nbt["palette"]]
        blocks = [([int(v) for v in b["pos"]], int(b["state"])) for b in nbt["blocks"]]
    except Exception as e:  # not gzip, not NBT, or not a structure file
        raise UserError(f"voxel_growth: {path} is not a readable Minecraft structure file ({type(e).__name__}: {e}); "
                        "[dataset] path must name an .nbt structure with size, palette and blocks") from None
    names = [AIR] + [n for i, n in enumerate(palette) if n != AIR and n not in palette[:i]]
    cls_of_state = [names.index(n) for n in palette]
    grid = torch.zeros(size, dtype=torch.long)
    for (x, y, z), s in blocks:
        grid[x, y, z] = cls_of_state[s]
    return grid, names


class VoxelGrowth(GrowthDataset):
    name = "voxel_growth"

    def __init__(self, config: VoxelGrowthConfig):
        path = Path(config.path) if config.path else default_path(config.structure)
        self.source = str(path)
        classes, self.class_names = load_structure(path)
        if config.pad:
            classes = F.pad(classes, (config.pad,) * 6)
        self.classes = classes  # [X, Y, Z] long
        self.shape = tuple(classes.shape)  # type: ignore[assignment]
        K = self.num_classes = len(self.class_names)
        self.alive_channel = K
        self.channels = K + 1 + config.hidden_channels
        self.alive_weight = config.alive_weight
        self.loss = config.loss
        flat = classes.flatten()
        self.target = flat.view(-1, 1).float()  # [N, 1] class ids (float, for the generic batch)
        self.occupied = flat != 0
        seed = torch.zeros(flat.numel(), self.channels)
        X, Y, Z = self.shape
        seed[((X // 2) * Y + Y // 2) * Z + Z // 2, K:] = 1.0
        self.seed = seed
        centres = self.occupied.view(self.shape).nonzero()
        extent = float(min(int(c.max() - c.min()) + 1 for c in centres.T))
        self.pool = SamplePool(seed, config.pool_size, self.shape, centres, extent, config.damage,
                               tuple(config.damage_radius), config.seed)  # type: ignore[arg-type]
        self.hash = self._hash(config.pad, config.hidden_channels, config.loss)

    def channel_layout(self) -> str:
        K = self.num_classes
        return f"{K} class logits incl. air, 1 alive (channel {K}), {self.channels - K - 1} hidden"

    def predicted(self, final: torch.Tensor) -> torch.Tensor:
        """Class per cell ``[B, N]`` (0 = air; a dead cell's zero logits read as air)."""
        return predicted(final, self.num_classes)

    def iou_error(self, final: torch.Tensor) -> torch.Tensor:
        """1 − IoU of occupancy per sample ``[B]``."""
        return iou_error(final, self.occupied, self.num_classes)

    def prediction_scores(self, final: torch.Tensor) -> dict[str, float]:
        labels = self.target[:, 0].long().to(final.device)
        loss = voxel_losses(final, labels.unsqueeze(0).expand(len(final), -1), self.num_classes, self.loss, self.alive_weight)
        return {"iou_error": float(self.iou_error(final).mean()), "class_accuracy": class_accuracy(final, labels, self.num_classes),
                "loss": float(loss.mean())}


def build(config: VoxelGrowthConfig, ctx: Any) -> VoxelGrowth:
    return VoxelGrowth(config)
