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

from aa_core.plugin import non_negative, positive


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


STRATEGIES = {
    "learned_linear": LearnedLinearConfig,
    "hierarchical": HierarchicalConfig,
    "attention_based": AttentionConfig,
    "autoencoder": AutoencoderConfig,
}
