"""Config classes of the core's built-in components.

Kept free of torch so that listing plugins and architectures stays fast: a plugin's hook
module imports its configs, never its modules.
"""
from __future__ import annotations

from pathlib import Path

import attrs

from ._validators import in_range, length, non_negative, one_of, positive

FACES = ("x0", "x1", "y0", "y1", "z0", "z1")
DEFAULT_TEACHER = "all-MiniLM-L6-v2"


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
class MLPCellConfig:
    channels: int = attrs.field(default=16, validator=positive)
    hidden: int = attrs.field(default=64, validator=positive)
    activation: str = attrs.field(default="relu", validator=one_of(["relu", "gelu", "tanh"]))
    zero_init: bool = False


@attrs.define
class DepthwiseCellConfig:
    """Depthwise-perception NCA cell (3D NCA): perception C → multiplier·C, MLP → hidden → C."""

    channels: int = attrs.field(default=16, validator=positive)
    multiplier: int = attrs.field(default=4, validator=positive)
    hidden: int = attrs.field(default=64, validator=positive)


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
class LinearAdapterConfig:
    bias: bool = True


@attrs.define
class TeacherConfig:
    model: str = DEFAULT_TEACHER
    batch_size: int = attrs.field(default=64, validator=positive)
    max_length: int = attrs.field(default=128, validator=positive)
    cache_dir: str | None = ".aa_cache/teacher"

    def check(self):
        if self.model != DEFAULT_TEACHER and not (Path(self.model) / "config.json").is_file():
            yield "model", (
                f"'{self.model}' is neither '{DEFAULT_TEACHER}' nor a local transformers model folder "
                "(no config.json there); models are never downloaded at run time"
            )


@attrs.define
class DirectEmbeddingConfig:
    embedding_dim: int | None = attrs.field(default=None, validator=positive)
    residual: bool = False
