"""Configs of the growth components: the ``growing_nca`` cell, the ``growth`` pipeline and the
``voxel_growth`` / ``emoji_growth`` datasets (torch-free: the hook module imports them)."""
from __future__ import annotations

import attrs

from aa_core.plugin import in_range, length, non_negative, one_of, path_field, positive


@attrs.define
class GrowingNCACellConfig:
    """Growing-NCA cell (Mordvintsev et al. 2020; Sudhakaran et al. 2021 in 3D).

    - ``perception``: ``"sobel"`` = identity + Sobel-x + Sobel-y within each z-plane (fixed, 3·C
      features; the Distill model), ``"learned"`` = ``multiplier`` learned 3×3×3 kernels per channel.
    - ``hidden``: widths of the 1×1 update MLP (ReLU between); its last layer starts at zero,
      so a fresh cell leaves the state unchanged.
    """

    channels: int = attrs.field(default=16, validator=positive)
    perception: str = attrs.field(default="sobel", validator=one_of(["sobel", "learned"]))
    multiplier: int = attrs.field(default=3, validator=positive)
    hidden: list[int] = attrs.field(factory=lambda: [128], validator=positive)
    zero_init: bool = True

    def check(self):
        if self.perception == "sobel" and self.multiplier != 3:
            yield "multiplier", f"the sobel perception has 3 kernels per channel (identity, Sobel-x, Sobel-y), got {self.multiplier}"
        if not self.hidden:
            yield "hidden", "needs at least one hidden width"


@attrs.define
class GrowthConfig:
    """Seed → T propagator steps. ``steps`` = [min, max] T during training (uniform), ``eval_steps``
    the T of validation and of ``forward`` (default: max)."""

    steps: list[int] = attrs.field(factory=lambda: [64, 96], validator=[length(2), positive])
    eval_steps: int | None = attrs.field(default=None, validator=positive)

    def check(self):
        if self.steps[0] > self.steps[1]:
            yield "steps", f"[min, max] with min <= max, got {self.steps}"


@attrs.define
class PoolConfig:
    """The sample pool (Distill's "Experiment 2/3"): ``pool_size`` states; after each step the
    batch's grown states are written back, the worst-loss one is replaced by the seed and the
    ``damage`` best ones lose a ball of radius ``damage_radius`` (fractions of the target's
    smallest extent). ``damage = 0`` trains growth and persistence only."""

    pool_size: int = attrs.field(default=1024, validator=positive)
    damage: int = attrs.field(default=0, validator=non_negative)
    damage_radius: list[float] = attrs.field(factory=lambda: [0.1, 0.4], validator=[length(2), in_range(0.0, 1.0)])
    seed: int = 0


@attrs.define
class VoxelGrowthConfig(PoolConfig):
    """A Minecraft structure (NBT, read with nbtlib) as block classes + air (class 0).

    ``path``: the ``.nbt`` file (default: ``caterpillar_short.nbt`` in the shared data folder; relative to
    the spec file's folder);
    ``pad``: empty cells added on every side; ``hidden_channels``: the state's extra channels
    (state = classes, alive, hidden); ``loss``: ``"balanced"`` = the class balance of the authors'
    trainer (Sudhakaran et al.'s code): half the mean cross-entropy over the structure's voxels, half
    over the air voxels, so the 8 % of voxels that are structure weigh as much as the air;
    ``"ce_alive"`` = the mean cross-entropy over all voxels; both + ``alive_weight`` · MSE of the
    alive channel to occupancy (read by the ``voxel_growth`` objective, with ``hidden_channels``)."""

    path: str | None = path_field(default=None)
    loss: str = attrs.field(default="balanced", validator=attrs.validators.in_(("balanced", "ce_alive")))
    structure: str = "caterpillar_short"
    pad: int = attrs.field(default=0, validator=non_negative)
    hidden_channels: int = attrs.field(default=12, validator=non_negative)
    alive_weight: float = attrs.field(default=1.0, validator=non_negative)
    pool_size: int = attrs.field(default=64, validator=positive)


@attrs.define
class EmojiGrowthConfig(PoolConfig):
    """An emoji rendered from Noto Color Emoji with Pillow: RGBA (premultiplied) ``size``² target
    centred on a ``grid``² lattice (``[geometry] size = [grid, grid, 1]``). ``font``: the font file
    (relative to the spec file's folder); without it the usual Noto Color Emoji locations."""

    emoji: str = "🦎"
    size: int = attrs.field(default=40, validator=positive)
    grid: int = attrs.field(default=48, validator=positive)
    font: str | None = path_field(default=None)
    channels: int = attrs.field(default=16, validator=positive)

    def check(self):
        if self.size > self.grid:
            yield "size", f"the target ({self.size}) must fit on the grid ({self.grid})"
        if self.channels < 4:
            yield "channels", f"needs RGBA + hidden channels (>= 4), got {self.channels}"


@attrs.define
class GrowthObjectiveConfig:
    """The test figures of the growth objectives (``voxel_growth``, ``emoji_growth``): ``rollouts``
    patterns grown from the seed with fresh fire masks, then grown ``persist_steps`` more steps
    (persistence), and damaged by a ball and regrown for ``regrow_steps`` (default: the pipeline's
    ``eval_steps``). The loss itself is set in ``[dataset]`` (voxel: ``loss``, ``alive_weight``)."""

    rollouts: int = attrs.field(default=4, validator=positive)
    persist_steps: int = attrs.field(default=500, validator=positive)
    regrow_steps: int | None = attrs.field(default=None, validator=positive)
