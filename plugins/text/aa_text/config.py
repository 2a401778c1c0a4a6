"""Configs of the text pipelines (torch-free, imported by the hook module)."""
from __future__ import annotations

import attrs

from aa_core.plugin import positive


@attrs.define
class TextToTextConfig:
    """``text_to_text``: question ids → [encoder] → input face → lattice → output face → [decoder] → answer ids.

    - ``question_length``: question tokens kept; ``answer_length``: answer tokens trained on
      (and the default generation limit is the decoder's ``max_new_tokens``).
    - ``memory_tokens``: decoder memory tokens per output-face cell.
    - ``validate_generation``: validation also generates answers and scores them with the
      [tokenizer] teacher (cosine, ranking) when one is configured; else validation is the loss.
    """

    question_length: int = attrs.field(default=48, validator=positive)
    answer_length: int = attrs.field(default=32, validator=positive)
    memory_tokens: int = attrs.field(default=1, validator=positive)
    validate_generation: bool = True


@attrs.define
class HybridEmbeddingConfig:
    """``hybrid_embedding``: embedding → write adapter → lattice → the write adapter's inverse → embedding.

    The output face is read back by the write adapter's own learned inverse (``decode``; the
    ``autoencoder`` adapter has one) when it has one, else by a separate read adapter.
    ``residual``: add the input embedding to the output. Text comes from the [decoder]
    (``generative``: decodes the predicted embedding into new text).
    """

    residual: bool = False
    embedding_dim: int | None = attrs.field(default=None, validator=positive)
