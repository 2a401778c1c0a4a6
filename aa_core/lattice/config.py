"""Configs of the reference lattice geometry and the local ``nca`` propagator (torch-free)."""
from __future__ import annotations

import attrs

from ..validators import in_range, length, non_negative, one_of, positive

FACES = ("x0", "x1", "y0", "y1", "z0", "z1")


@attrs.define
class LatticeConfig:
    """``size`` = [X, Y, Z] before ``scale_factor`` (each side rounded, at least 1)."""

    size: list[int] = attrs.field(factory=lambda: [8, 8, 8], validator=[length(3), positive])
    neighbourhood: int = attrs.field(default=26, validator=one_of([6, 18, 26]))
    boundary: str = attrs.field(default="zero", validator=one_of(["zero", "periodic"]))
    input_face: str = attrs.field(default="z0", validator=one_of(FACES))
    output_face: str = attrs.field(default="z1", validator=one_of(FACES))
    scale_factor: float = attrs.field(default=1.0, validator=in_range(1e-6, 1.0))



@attrs.define
class NCAConfig:
    steps: int = attrs.field(default=8, validator=non_negative)
    fire_rate: float = attrs.field(default=1.0, validator=in_range(0.0, 1.0))
    alive_threshold: float | None = None
    alive_channel: int = attrs.field(default=0, validator=non_negative)
    gradient_checkpointing: bool = False
    path: str = attrs.field(default="fast", validator=one_of(["fast", "reference"]))
    chunk_planes: int | None = attrs.field(default=None, validator=positive)


@attrs.define
class NCAParallelConfig(NCAConfig):
    """The ``nca`` propagator split into x-slabs over the processes of a torchrun launch (one process: plain ``nca``)."""

    overlap: bool = True  # update the slab's interior while the halo planes travel
