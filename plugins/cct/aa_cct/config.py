"""Config of the ``cct`` cell (torch-free, imported by the plugin's hook module)."""
from __future__ import annotations

from typing import Any

import attrs

from aa_core.plugin import one_of, positive

#: Named sizes; with a 26-neighbourhood (K = 27) and tokenizer_kernel 3 they give 9,905 and
#: 23,889 parameters (formula in the README). Explicit keys override them.
PRESETS: dict[str, dict] = {
    "10k": {"channels": 16, "dim": 16, "heads": 2, "layers": 1, "mlp_ratio": 2.0},
    "25k": {"channels": 16, "dim": 32, "heads": 2, "layers": 1, "mlp_ratio": 2.0},
}
DEFAULTS: dict = {"channels": 8, "dim": 16, "heads": 2, "layers": 1, "mlp_ratio": 2.0}


class _TransformerShape:
    """What the CCT cell and the CCT text encoder share: the MLP width and the heads rule."""

    dim: Any  # int; the cell's preset fills it after construction
    heads: Any
    mlp_ratio: Any

    @property
    def mlp_hidden(self) -> int:
        return max(1, round(self.dim * self.mlp_ratio))

    def size(self, key: str) -> int:
        """A size key as an int: a preset or the defaults fill every size left unset at construction."""
        value = getattr(self, key)
        if value is None:
            raise ValueError(f"{type(self).__name__}.{key} is unset")
        return int(value)

    def check(self):
        if self.dim % self.heads:
            yield "heads", f"dim {self.dim} is not divisible by heads {self.heads}"


@attrs.define
class CCTCellConfig(_TransformerShape):
    """Compact Convolutional Transformer cell (Hassani et al. 2021) over the K neighbour tokens.

    - ``channels``: state width C; ``dim``: token width d; ``heads``; ``layers``;
      ``mlp_ratio``: encoder MLP width = round(d·mlp_ratio).
    - ``tokenizer_kernel``: 3 = a 3×3×3 conv (C → d, ReLU) over the neighbourhood cube, read
      at the K neighbour positions; 1 = a pointwise conv (per-token linear).
    - ``preset``: ``"10k"`` or ``"25k"`` fills the size keys left unset.
    - ``chunk_cells``: cells per chunk of the batched forward (None = automatic).
    """

    channels: int | None = attrs.field(default=None, validator=positive)
    dim: int | None = attrs.field(default=None, validator=positive)
    heads: int | None = attrs.field(default=None, validator=positive)
    layers: int | None = attrs.field(default=None, validator=positive)
    mlp_ratio: float | None = attrs.field(default=None, validator=positive)
    tokenizer_kernel: int = attrs.field(default=3, validator=one_of([1, 3]))
    preset: str | None = attrs.field(default=None, validator=one_of([None, *PRESETS]))
    chunk_cells: int | None = attrs.field(default=None, validator=positive)
    zero_init: bool = False

    def __attrs_post_init__(self):
        base = PRESETS.get(self.preset, DEFAULTS)
        for key, value in base.items():
            if getattr(self, key) is None:
                setattr(self, key, value)



def block_params(d: int, m: int) -> int:
    """One pre-LN encoder layer: LN 2d + qkv 3d²+3d + proj d²+d + LN 2d + fc1 dm+m + fc2 md+d."""
    return 4 * d * d + 2 * d * m + 9 * d + m


def param_count(channels: int, dim: int, layers: int, mlp_hidden: int, k: int, tokenizer_kernel: int = 3) -> int:
    """Exact parameter count (see README)."""
    C, d = channels, dim
    tokenizer = C * d * tokenizer_kernel**3 + d
    return tokenizer + k * d + layers * block_params(d, mlp_hidden) + 2 * d + (d + 1) + (d * C + C)


#: Special tokens of a trained BPE vocabulary, at ids 0..3: padding, unknown, begin and end of a sequence.
SPECIALS = ("[PAD]", "[UNK]", "[BOS]", "[EOS]")


@attrs.define
class SubwordConfig:
    """Subword tokenizer (text ↔ ids).

    - ``vocab``: ``"bpe"`` (trained on the training split, ``vocab_size`` entries at most) or
      ``"wordpiece"`` (the teacher's 30,522-entry vocabulary; ``vocab_size`` is ignored).
    - ``max_length``: tokens kept per text (longer texts are cut).
    """

    vocab: str = attrs.field(default="bpe", validator=one_of(["bpe", "wordpiece"]))
    vocab_size: int = attrs.field(default=2000, validator=positive)
    max_length: int = attrs.field(default=48, validator=positive)
    lowercase: bool = True

    def check(self):
        if self.vocab == "bpe" and self.vocab_size < 64:
            yield "vocab_size", f"must be at least 64 for a BPE vocabulary, got {self.vocab_size}"


@attrs.define
class CCTTextConfig(_TransformerShape):
    """CCT text encoder (Hassani et al. 2021, text variant): ids ``[B, L]`` → input face ``[B, F, C]``.

    Token embeddings (``embed_dim``) → Conv1d(kernel ``kernel``) → ReLU → MaxPool1d(2) →
    learned positions → ``layers`` masked pre-LN encoder layers (``dim``, ``heads``,
    ``mlp_ratio``) → LN → SeqPool with one attention head per face cell → Linear(dim, C).
    """

    embed_dim: int = attrs.field(default=64, validator=positive)
    dim: int = attrs.field(default=96, validator=positive)
    kernel: int = attrs.field(default=3, validator=positive)
    layers: int = attrs.field(default=2, validator=positive)
    heads: int = attrs.field(default=2, validator=positive)
    mlp_ratio: float = attrs.field(default=1.0, validator=positive)
    max_length: int = attrs.field(default=64, validator=positive)
    pool: bool = True



@attrs.define
class WordPieceConfig(SubwordConfig):
    """The teacher's WordPiece vocabulary (``vocab_size`` and ``lowercase`` are the teacher's)."""

    vocab: str = attrs.field(default="wordpiece", validator=one_of(["wordpiece"]))
