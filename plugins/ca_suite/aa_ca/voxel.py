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
objective (:mod:`aa_ca.growth_objectives`, maths in :mod:`aa_ca.growth_metrics`): ``loss = "balanced"`` is the class balance of the
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
from aa_core.protocols import Picture
from aa_nca.growth import GrowthDataset, centre_cell
from aa_nca.pool import SamplePool

from ._extras import require
from .growth_config import VoxelGrowthConfig
from .growth_metrics import class_accuracy, iou_error, predicted, voxel_losses

require("voxel", "the voxel_growth dataset (aa_ca.voxel: Minecraft structure files)")

AIR = "minecraft:air"


def shared_data() -> Path:
    """``../shared/data`` beside the repository (this file is ``<repo>/plugins/ca_suite/aa_ca/voxel.py``)."""
    return Path(__file__).resolve().parents[4] / "shared" / "data"


def default_path(structure: str) -> Path:
    return shared_data() / "voxel-artefacts" / f"{structure}.nbt"


MAX_CELLS = 1 << 24  # 256³: a structure block saves at most 48³; a file claiming more is damaged or no growth target


def _structure_problem(size: list[int], palette: list[str], blocks: list[tuple[list[int], int]], max_cells: int) -> str | None:
    """What makes a structure unusable (checked before anything is allocated), or None."""
    if len(size) != 3 or min(size) < 1:
        return f"it claims size {size}, but a structure's size is [x, y, z] with every side at least 1 block"
    cells = size[0] * size[1] * size[2]
    if cells > max_cells:
        return (f"it claims a size of {size[0]}×{size[1]}×{size[2]} = {cells:,} cells, more than the {max_cells:,} a "
                "voxel_growth lattice may hold (a structure block saves at most 48×48×48; the caterpillar is 8×8×27)")
    if not blocks:
        return f"it holds no blocks (size {size}): there is nothing to grow"
    bad_pos = [(i, pos) for i, (pos, _s) in enumerate(blocks) if len(pos) != 3 or any(not 0 <= v < n for v, n in zip(pos, size))]
    if bad_pos:
        i, pos = bad_pos[0]
        return (f"block {i} lies at pos {pos}, outside the structure's size {size} (positions run from [0, 0, 0] to "
                f"{[n - 1 for n in size]}; {len(bad_pos)} of its {len(blocks)} blocks lie outside)")
    bad_state = [(i, s) for i, (_pos, s) in enumerate(blocks) if not 0 <= s < len(palette)]
    if bad_state:
        i, s = bad_state[0]
        return (f"block {i} has state {s}, but the palette has {len(palette)} entr{'y' if len(palette) == 1 else 'ies'} "
                f"(states 0 to {len(palette) - 1}; {len(bad_state)} of its {len(blocks)} blocks name none of them)")
    if all(palette[s] == AIR for _pos, s in blocks):
        return "it holds only air blocks: there is nothing to grow"
    return None


def load_structure(path: str | Path, max_cells: int = MAX_CELLS) -> tuple[torch.Tensor, list[str]]:
    """An NBT structure → (long ``[X, Y, Z]`` class ids, class names with ``names[0]`` = air).

    Every field is checked against the declared size and palette first (a block outside the
    structure, a state not in the palette, an empty or absurdly large structure): a damaged or
    hand-made file is refused naming what is wrong, never half-read or wrapped around."""
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
    problem = _structure_problem(size, palette, blocks, max_cells)
    if problem is not None:
        raise UserError(f"voxel_growth: the structure file {path} ([dataset] path): {problem}. The file is damaged or was not "
                        "saved by Minecraft: re-export it (a structure block in Save mode) or set [dataset] path to another .nbt")
    names = [AIR] + [n for i, n in enumerate(palette) if n != AIR and n not in palette[:i]]
    cls_of_state = [names.index(n) for n in palette]
    grid = torch.zeros(size, dtype=torch.long)
    for (x, y, z), s in blocks:
        grid[x, y, z] = cls_of_state[s]
    return grid, names


class VoxelGrowth(GrowthDataset):
    name = "voxel_growth"

    def __init__(self, config: VoxelGrowthConfig, lattice: tuple[int, int, int] | None = None, where: str = "the spec"):
        """``lattice``: the model's ``[geometry] size``, checked before the pool is allocated (``where`` names the spec)."""
        path = Path(config.path) if config.path else default_path(config.structure)
        self.source = str(path)
        classes, self.class_names = load_structure(path)
        shape = [n + 2 * config.pad for n in classes.shape]
        if lattice is not None and list(lattice) != shape:
            padded = f" with [dataset] pad = {config.pad}" if config.pad else ""
            raise UserError(f"{where}: [geometry] size = {list(lattice)} but the voxel_growth structure {path} is "
                            f"{'×'.join(map(str, shape))}{padded}; set [geometry] size = {shape}, "
                            "or [dataset] path to a structure of that size")
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

    def damage_site(self) -> tuple[torch.Tensor, float]:
        """A ball through the middle of the structure: its cells' centroid, radius 0.3 × the lattice's smallest side
        (the test's damage, and aa inspect's)."""
        return self.occupied.view(self.shape).nonzero().float().mean(0).round(), 0.3 * min(self.shape)

    # -- PicturedDataset (aa inspect: side by side, the growth over time, a voxel render) -----------
    def voxels(self, classes: torch.Tensor, caption: str = "", seed: bool = False) -> Picture:
        """Class ids ``[X, Y, Z]`` (0 = air) as a 3D class grid, Minecraft's y up (the picture's last axis);
        ``seed``: the seed cell drawn as a class of its own (it has no block yet)."""
        ids = classes.view(self.shape).long() - 1  # air → −1: empty
        names = tuple(n.removeprefix("minecraft:") for n in self.class_names[1:])
        if seed:
            ids.view(-1)[centre_cell(self.shape)] = len(names)
            names += ("seed (alive, no block yet)",)
        return Picture("classes", ids.permute(0, 2, 1), caption=caption, names=names)

    def example_picture(self, index: int, split: str) -> dict[str, Picture]:
        """The start (the seed, or a pool state for ``train``) and the target structure."""
        target = self.voxels(self.classes, f"{int(self.occupied.sum())} blocks")
        if split == "train":
            return {"input": self.voxels(self.predicted(self.pool.sample(torch.tensor([index])))[0], f"pool state #{index}"),
                    "target": target}
        return {"input": self.voxels(torch.zeros(self.shape, dtype=torch.long), "one alive cell", seed=True), "target": target}

    def prediction_picture(self, output: torch.Tensor, index: int, split: str) -> Picture:
        """The grown structure (each cell's most likely class) and its 1 − IoU of occupancy."""
        final = output.detach().float()
        cls = self.predicted(final)[0]
        return self.voxels(cls, f"{int((cls != 0).sum())} blocks, 1 − IoU {float(self.iou_error(final)[0]):.3f}")

    def prediction(self, output: torch.Tensor, example: Any) -> dict[str, Any]:
        """The grown structure: ``grid`` = the class id of every cell, nested ``[X][Y][Z]`` (0 = air; ``classes``
        names them), the occupied cells and the figures against the target."""
        cls = self.predicted(output.detach().float())[0].view(self.shape)
        return {"grid": cls.tolist(), "classes": list(self.class_names), "shape": list(self.shape),
                "occupied": int((cls != 0).sum()), **super().prediction(output, example)}

    def prediction_scores(self, final: torch.Tensor) -> dict[str, float]:
        labels = self.target[:, 0].long().to(final.device)
        loss = voxel_losses(final, labels.unsqueeze(0).expand(len(final), -1), self.num_classes, self.loss, self.alive_weight)
        return {"iou_error": float(self.iou_error(final).mean()), "class_accuracy": class_accuracy(final, labels, self.num_classes),
                "loss": float(loss.mean())}


def build(config: VoxelGrowthConfig, ctx: Any) -> VoxelGrowth:
    """The dataset; in a spec with a pipeline (a model to train) the lattice is checked at once, before the run
    folder and the pool exist (the conformance kit builds it alone, on its small default lattice)."""
    has = getattr(ctx, "has", None)
    if has is not None and has("pipeline") and has("geometry"):
        return VoxelGrowth(config, tuple(ctx.geometry.size), ctx.spec.source)
    return VoxelGrowth(config)
