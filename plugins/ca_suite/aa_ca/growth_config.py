"""Configs of the ``voxel_growth`` and ``emoji_growth`` datasets (torch-free: the hook module imports them).

The growth components' configs (the ``growing_nca`` cell, the ``growth`` pipeline, the sample pool, the growth
objectives' test) are aa-nca's, in :mod:`aa_nca.config`; their names here are deprecated aliases.
"""
from __future__ import annotations

import importlib
import warnings
from collections.abc import Iterator
from typing import Any

import attrs

from aa_core.plugin import non_negative, path_field, positive
from aa_nca.config import PoolConfig

# moved to aa-nca (deprecated here: removed in aa-ca-suite 0.3)
_MOVED = {"GrowingNCACellConfig": "aa_nca.config", "GrowthConfig": "aa_nca.config", "GrowthObjectiveConfig": "aa_nca.config"}


def __getattr__(name: str) -> Any:
    if name in _MOVED:
        warnings.warn(f"aa_ca.growth_config.{name} is deprecated and will be removed in aa-ca-suite 0.3; "
                      f"import it from {_MOVED[name]} (distribution aa-nca)", DeprecationWarning, stacklevel=2)
        return getattr(importlib.import_module(_MOVED[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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

    def check_with(self, spec: Any) -> Iterator[tuple[str, str]]:
        """The lattice is the ``grid``² plane and the cell's state ``channels`` wide (CrossCheckedConfig: `aa check`
        says so before the emoji is rendered; the dataset's ``setup`` checks the built model again)."""
        from aa_core.plugin import LatticeConfig

        if spec.name("pipeline") != "growth":
            return
        geometry, cell, propagator = spec.config("geometry"), spec.config("cell"), spec.config("propagator")
        plane = [self.grid, self.grid, 1]
        if isinstance(geometry, LatticeConfig) and list(geometry.lattice_size()) != plane:
            yield "geometry.size", (f"is {list(geometry.lattice_size())}, but the emoji_growth target is drawn on a {self.grid}×{self.grid} "
                                    f"plane (dataset.grid = {self.grid}): set geometry.size = {plane}")
        if getattr(cell, "channels", self.channels) != self.channels:
            yield "cell.channels", (f"is {cell.channels}, but the emoji_growth state is dataset.channels = {self.channels} wide "
                                    f"(RGBA, then hidden): set both to one width")
        if getattr(propagator, "alive_threshold", None) is not None and getattr(propagator, "alive_channel", 3) != 3:
            yield "propagator.alive_channel", (f"is {propagator.alive_channel}, but the emoji_growth alive channel is 3 (the alpha of "
                                               "RGBA, [dataset] name = \"emoji_growth\"): set propagator.alive_channel = 3")
