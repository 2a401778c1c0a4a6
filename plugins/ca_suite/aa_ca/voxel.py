"""The ``voxel_growth`` dataset: grow a Minecraft structure from one seed voxel (Sudhakaran et al. 2021).

A structure file (NBT, read with nbtlib: a palette of block states and blocks with positions)
becomes a class per cell: 0 = air, then the structure's block names in palette order (block
states with the same name, e.g. two facings of a dispenser, are one class). The lattice is the
structure's size (plus ``pad`` air cells on every side), in the file's (x, y, z) axes.

State channels: ``[0, K)`` class logits (K classes incl. air), ``K`` alive, then the hidden
channels (12 + 7 + 1 = 20 for the caterpillar). The seed is one cell at the lattice's centre with
alive and hidden channels at 1. Loss per sample (``loss = "balanced"``, the class balance of the
authors' trainer): half the mean cross-entropy of the class logits over the structure's voxels,
half over the air voxels, + ``alive_weight`` · MSE of the alive channel to the occupancy (the
authors' loss has no alive term; without one the alive channel has no target and the seed can die
early, after which no gradient flows); ``"ce_alive"``: the mean cross-entropy over all cells + the
same alive term. A cell is occupied when
its most likely class is not air; dead cells are zero, so they read as air. Validation reports
``val_iou_error`` = 1 − IoU of occupancy (the published curve), class accuracy on occupied cells,
and the loss.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from aa_core.plugin import UserError

from .growth import GrowthDataset
from .growth_config import VoxelGrowthConfig
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
    default_selection = "val_iou_error"

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

    def sample_losses(self, final: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        K = self.num_classes
        labels = targets[..., 0].long()  # [B, N]
        ce = F.cross_entropy(final[..., :K].transpose(1, 2), labels, reduction="none")  # [B, N]
        occ = (labels != 0).to(final.dtype)
        alive = F.mse_loss(final[..., K], occ, reduction="none").mean(1)
        if self.loss == "balanced":
            structure = (ce * occ).sum(1) / occ.sum(1).clamp_min(1)
            air = (ce * (1 - occ)).sum(1) / (1 - occ).sum(1).clamp_min(1)
            return 0.5 * structure + 0.5 * air + self.alive_weight * alive
        return ce.mean(1) + self.alive_weight * alive

    def predicted(self, final: torch.Tensor) -> torch.Tensor:
        """Class per cell ``[B, N]`` (0 = air; a dead cell's zero logits read as air)."""
        return final[..., : self.num_classes].argmax(-1)

    def iou_error(self, final: torch.Tensor) -> torch.Tensor:
        """1 − IoU of occupancy per sample ``[B]``."""
        pred = self.predicted(final) != 0
        occ = self.occupied.to(pred.device).unsqueeze(0)
        inter = (pred & occ).sum(1).float()
        union = (pred | occ).sum(1).float().clamp_min(1)
        return 1 - inter / union

    def metrics(self, final: torch.Tensor) -> dict[str, float]:
        pred = self.predicted(final)
        occ = self.occupied.to(pred.device)
        labels = self.target[:, 0].long().to(pred.device)
        return {"val_iou_error": float(self.iou_error(final).mean()),
                "val_class_accuracy": float((pred[:, occ] == labels[occ]).float().mean())}


def build(config: VoxelGrowthConfig, ctx: Any) -> VoxelGrowth:
    return VoxelGrowth(config)
