"""Configs of the Growing-NCA components: the ``growing_nca`` cell, the ``growth`` pipeline, the sample
pool a growth dataset holds (:class:`PoolConfig`, a base for a dataset's own config) and the growth
objectives' test (:class:`GrowthObjectiveConfig`). Torch-free: the hook module imports them."""
from __future__ import annotations

import attrs

from aa_core.plugin import in_range, length, non_negative, one_of, positive


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
    smallest extent). ``damage = 0`` trains growth and persistence only. A growth dataset's config
    subclasses it (aa-ca-suite's ``voxel_growth`` and ``emoji_growth``)."""

    pool_size: int = attrs.field(default=1024, validator=positive)
    damage: int = attrs.field(default=0, validator=non_negative)
    damage_radius: list[float] = attrs.field(factory=lambda: [0.1, 0.4], validator=[length(2), in_range(0.0, 1.0)])
    seed: int = 0


@attrs.define
class GrowthObjectiveConfig:
    """The test figures of a growth objective (:class:`aa_nca.objective.GrowthObjective`; aa-ca-suite's
    ``voxel_growth``, ``emoji_growth``): ``rollouts`` patterns grown from the seed with fresh fire masks,
    then grown ``persist_steps`` more steps (persistence), and damaged by a ball and regrown for
    ``regrow_steps`` (default: the pipeline's ``eval_steps``). The loss itself is the objective's (and may
    read ``[dataset]`` settings, as voxel's ``loss`` and ``alive_weight``)."""

    rollouts: int = attrs.field(default=4, validator=positive)
    persist_steps: int = attrs.field(default=500, validator=positive)
    regrow_steps: int | None = attrs.field(default=None, validator=positive)
