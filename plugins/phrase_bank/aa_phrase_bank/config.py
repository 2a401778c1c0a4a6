"""Config of the phrase_bank decoder (torch-free, imported by the hook module)."""
from __future__ import annotations

import attrs

from aa_core.plugin import one_of, positive


@attrs.define
class PhraseBankConfig:
    """``phrases``: optional text file (one phrase a line, or JSON Lines with "answer") used
    instead of the training answers. ``top_k`` > 1 with ``rerank`` re-orders the k best by
    cosine after subtracting the bank's mean vector (counters anisotropic embeddings)."""

    phrases: str | None = None
    top_k: int = attrs.field(default=1, validator=positive)
    rerank: str = attrs.field(default="none", validator=one_of(["none", "centred"]))
    cache_size: int = attrs.field(default=4096, validator=positive)
