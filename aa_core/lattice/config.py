"""Configs of the reference lattice geometry and the local ``nca`` propagator (torch-free)."""
from __future__ import annotations

import math
from collections.abc import Sequence

import attrs

from ..validators import in_range, length, non_negative, one_of, positive

FACES = ("x0", "x1", "y0", "y1", "z0", "z1")


def scaled_size(size: Sequence[int], scale_factor: float) -> tuple[int, int, int]:
    """Each side × ``scale_factor``, rounded half up, at least 1 (identity at 1.0)."""
    if scale_factor == 1.0:
        x, y, z = (int(v) for v in size)
    else:  # the epsilon absorbs float error such as 0.35 * 10 = 3.4999999999999996
        x, y, z = (max(1, math.floor(v * scale_factor + 0.5 + 1e-9)) for v in size)
    return x, y, z


@attrs.define
class LatticeConfig:
    """``size`` = [X, Y, Z] before ``scale_factor`` (each side rounded, at least 1)."""

    size: list[int] = attrs.field(factory=lambda: [8, 8, 8], validator=[length(3), positive])
    neighbourhood: int = attrs.field(default=26, validator=one_of([6, 18, 26]))
    boundary: str = attrs.field(default="zero", validator=one_of(["zero", "periodic"]))
    input_face: str = attrs.field(default="z0", validator=one_of(FACES))
    output_face: str = attrs.field(default="z1", validator=one_of(FACES))
    scale_factor: float = attrs.field(default=1.0, validator=in_range(1e-6, 1.0))

    def lattice_size(self) -> tuple[int, int, int]:
        """(X, Y, Z) of the lattice this config builds (``size`` × ``scale_factor``), without building it:
        what a cross-component check (``check_with``) compares a dataset's shape with."""
        return scaled_size(self.size, self.scale_factor)

    def face_shape(self, face: str) -> tuple[int, int]:
        """The 2-D shape of ``face`` (``"z0"``: X×Y; the two other sides in x, y, z order), as the built
        geometry's ``face_shape``."""
        axis = "xyz".index(face[0])
        a, b = (s for i, s in enumerate(self.lattice_size()) if i != axis)
        return a, b


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
