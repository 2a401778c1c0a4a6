"""Config classes of the core's built-in components.

Kept free of torch so that listing plugins and architectures stays fast: a plugin's hook
module imports its configs, never its modules.
"""
from __future__ import annotations

import attrs

from ..lattice.config import FACES, LatticeConfig, NCAConfig
from ..validators import one_of, positive

__all__ = ["FACES", "DepthwiseCellConfig", "DirectEmbeddingConfig", "FlatMLPConfig", "LatticeConfig", "LinearAdapterConfig", "MLPCellConfig", "NCAConfig"]


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
class LinearAdapterConfig:
    bias: bool = True


@attrs.define
class DirectEmbeddingConfig:
    embedding_dim: int | None = attrs.field(default=None, validator=positive)
    residual: bool = False


@attrs.define
class FlatMLPConfig:
    """The same-size baseline: the flattened input → ``hidden`` widths → the prediction's shape.
    ``inputs`` / ``outputs`` (one example's shapes) default to the dataset's ``io_shapes()``."""

    hidden: list[int] = attrs.field(factory=lambda: [64], validator=positive)
    activation: str = attrs.field(default="relu", validator=one_of(["relu", "gelu", "tanh"]))
    inputs: list[int] | None = attrs.field(default=None, validator=positive)
    outputs: list[int] | None = attrs.field(default=None, validator=positive)
