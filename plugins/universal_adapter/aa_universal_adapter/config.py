"""Configs of the universal adapters (torch-free, imported by the hook module).

Four adapter components share one module (:class:`aa_universal_adapter.adapters.UniversalAdapter`):

- ``learned_linear``: one affine map.
- ``hierarchical``: ``levels`` affine+GELU stages through geometrically spaced widths.
- ``attention_based``: the input cut into ``tokens`` chunks, one self-attention block
  (``heads``, width ``d_model``), then ``tokens`` learned queries read out the output.
- ``autoencoder``: encoder in→hidden→out and decoder out→hidden→in; in training
  ``reconstruction_weight`` · relative MSE(decoder(encoder(x)), x) joins the loss.
"""
from __future__ import annotations

import attrs

from aa_core.plugin import non_negative, one_of, positive


@attrs.define
class LearnedLinearConfig:
    bias: bool = True


@attrs.define
class HierarchicalConfig:
    levels: int = attrs.field(default=2, validator=positive)
    bias: bool = True


@attrs.define
class AttentionConfig:
    tokens: int = attrs.field(default=8, validator=positive)
    heads: int = attrs.field(default=4, validator=positive)
    d_model: int = attrs.field(default=64, validator=positive)

    def check(self):
        if self.d_model % self.heads:
            yield "d_model", f"must be divisible by heads ({self.heads}), got {self.d_model}"


@attrs.define
class AutoencoderConfig:
    hidden: int | None = attrs.field(default=None, validator=positive)
    reconstruction_weight: float = attrs.field(default=0.1, validator=non_negative)
    bias: bool = True


@attrs.define
class FixedProjectionConfig:
    """A fixed seeded semi-orthogonal projection (no parameters; ``gain`` adds one trainable scalar)."""

    seed: int = 0
    gain: bool = False


@attrs.define
class SharedCellConfig:
    """Fixed projection to ``rank`` values per face cell + one ``rank ↔ channels`` map shared by all cells."""

    rank: int = attrs.field(default=8, validator=positive)
    seed: int = 0
    channels: int | None = attrs.field(default=None, validator=positive)  # default: the cell's channels
    direction: str = attrs.field(default="auto", validator=one_of(["auto", "write", "read"]))  # auto: write when in_dim is the embedding width


LIGHT = {"fixed_projection": FixedProjectionConfig, "shared_cell": SharedCellConfig}

STRATEGIES = {
    "learned_linear": LearnedLinearConfig,
    "hierarchical": HierarchicalConfig,
    "attention_based": AttentionConfig,
    "autoencoder": AutoencoderConfig,
}
