"""Config of the ``ret`` cell (torch-free, imported by the plugin's hook module)."""
from __future__ import annotations

import attrs

from aa_core.plugin import in_range, one_of, positive

SIZE_KEYS = ("channels", "dim", "heads", "layers", "mlp_ratio", "share_layers")
DEFAULTS: dict = {"channels": 8, "dim": 16, "heads": 2, "layers": 2, "mlp_ratio": 2.0, "share_layers": True}
FULL: dict = {"channels": 16, "dim": 32, "heads": 4, "layers": 2, "mlp_ratio": 2.0, "share_layers": False}


def reduce_sizes(sizes: dict) -> dict:
    """The "resource-efficient" reduction (Krisvarish et al. 2025): half the width, half the
    heads (at least 1), one layer's weights shared by every layer. Channels and depth stay."""
    heads = max(1, sizes["heads"] // 2)
    dim = max(heads, sizes["dim"] // 2)
    dim -= dim % heads
    return {**sizes, "dim": dim, "heads": heads, "share_layers": True}


#: ``full`` is the unreduced reference; ``reduced`` is ``reduce_sizes(full)``.
PRESETS: dict[str, dict] = {"full": FULL, "reduced": reduce_sizes(FULL)}


@attrs.define
class RETCellConfig:
    """Small transformer cell over the K neighbour tokens, read out at the centre token.

    - ``channels`` C, ``dim`` d, ``heads``, ``layers``, ``mlp_ratio`` (MLP width round(d·ratio)).
    - ``share_layers``: one set of layer weights applied ``layers`` times (weight sharing).
    - ``preset``: ``"full"`` (unreduced) or ``"reduced"``; fills the size keys left unset.
    - ``prune_amount``: fraction of each Linear weight zeroed by L1 magnitude pruning at build
      (made permanent); ``int8``: dynamic int8 quantization of every Linear at build. Both are
      for CPU inference of weights present at build; an int8 cell cannot be trained.
    - ``chunk_cells``: cells per chunk of the batched forward (None = automatic).
    """

    channels: int | None = attrs.field(default=None, validator=positive)
    dim: int | None = attrs.field(default=None, validator=positive)
    heads: int | None = attrs.field(default=None, validator=positive)
    layers: int | None = attrs.field(default=None, validator=positive)
    mlp_ratio: float | None = attrs.field(default=None, validator=positive)
    share_layers: bool | None = None
    preset: str | None = attrs.field(default=None, validator=one_of([None, *PRESETS]))
    prune_amount: float = attrs.field(default=0.0, validator=in_range(0.0, 0.99))
    int8: bool = False
    chunk_cells: int | None = attrs.field(default=None, validator=positive)
    zero_init: bool = False

    def __attrs_post_init__(self):
        base = PRESETS.get(self.preset, DEFAULTS)
        for key in SIZE_KEYS:
            if getattr(self, key) is None:
                setattr(self, key, base[key])

    @property
    def mlp_hidden(self) -> int:
        return max(1, round(self.size("dim") * float(self.mlp_ratio or 0.0)))

    def size(self, key: str) -> int:
        """A size key as an int: a preset or the defaults fill every size left unset at construction."""
        value = getattr(self, key)
        if value is None:
            raise ValueError(f"RETCellConfig.{key} is unset")
        return int(value)

    def sizes(self) -> dict:
        return {k: getattr(self, k) for k in SIZE_KEYS}

    def check(self):
        if self.dim % self.heads:
            yield "heads", f"dim {self.dim} is not divisible by heads {self.heads}"


def reduced_config(config: RETCellConfig, prune_amount: float = 0.5, int8: bool = True) -> RETCellConfig:
    """The reduced counterpart of ``config``: :func:`reduce_sizes` plus pruning and int8."""
    return RETCellConfig(**reduce_sizes(config.sizes()), prune_amount=prune_amount, int8=int8, chunk_cells=config.chunk_cells)


def block_params(d: int, m: int) -> int:
    """One pre-LN layer: LN 2d + q d²+d + kv 2d²+2d + proj d²+d + LN 2d + fc1 dm+m + fc2 md+d."""
    return 4 * d * d + 2 * d * m + 9 * d + m


def param_count(channels: int, dim: int, layers: int, mlp_hidden: int, k: int, share_layers: bool) -> int:
    """Exact float parameter count before int8 (see README)."""
    C, d = channels, dim
    stored_layers = 1 if share_layers else layers
    return (C * d + d) + k * d + stored_layers * block_params(d, mlp_hidden) + 2 * d + (d * C + C)


@attrs.define
class GenerativeConfig:
    """Autoregressive decoder (the RET recipe: reduced width, shared layers) conditioned on vectors.

    - ``dim``, ``heads``, ``layers`` (applications of the layer stack), ``share_layers`` (one set
      of layer weights applied ``layers`` times), ``mlp_ratio``, ``dropout``; token embedding
      and output projection are tied.
    - Conditioning: each memory vector (an output-face cell state, or one embedding) becomes
      ``prefix_tokens`` memory tokens the decoder cross-attends to; ``embedding_dim``: width of
      an embedding to decode (None: the [tokenizer]'s, else inferred on the first fit).
    - Decoding: ``strategy`` greedy / beam (``beam_size``, ``length_penalty``) / nucleus
      (``top_p``, ``temperature``, ``seed``), at most ``max_new_tokens`` tokens, KV cache.
    - ``fit_epochs``, ``fit_lr``, ``fit_batch_size``: pre-training on (text embedding → text)
      when the decoder is fitted on texts (embedding → text pipelines); ``label_smoothing``.
    """

    dim: int = attrs.field(default=128, validator=positive)
    heads: int = attrs.field(default=4, validator=positive)
    layers: int = attrs.field(default=2, validator=positive)
    share_layers: bool = True
    mlp_ratio: float = attrs.field(default=2.0, validator=positive)
    dropout: float = attrs.field(default=0.1, validator=in_range(0.0, 0.9))
    prefix_tokens: int = attrs.field(default=8, validator=positive)
    embedding_dim: int | None = attrs.field(default=None, validator=positive)
    max_positions: int = attrs.field(default=64, validator=positive)
    strategy: str = attrs.field(default="greedy", validator=one_of(["greedy", "beam", "nucleus"]))
    max_new_tokens: int = attrs.field(default=32, validator=positive)
    beam_size: int = attrs.field(default=4, validator=positive)
    length_penalty: float = attrs.field(default=1.0, validator=in_range(0.0, 5.0))
    top_p: float = attrs.field(default=0.9, validator=in_range(0.01, 1.0))
    temperature: float = attrs.field(default=1.0, validator=positive)
    seed: int = 0
    label_smoothing: float = attrs.field(default=0.0, validator=in_range(0.0, 0.5))
    fit_epochs: int = attrs.field(default=60, validator=positive)
    fit_lr: float = attrs.field(default=3e-3, validator=positive)
    fit_batch_size: int = attrs.field(default=32, validator=positive)

    @property
    def mlp_hidden(self) -> int:
        return max(1, round(self.dim * self.mlp_ratio))

    def check(self):
        if self.dim % self.heads:
            yield "heads", f"dim {self.dim} is not divisible by heads {self.heads}"
        if self.max_new_tokens >= self.max_positions:
            yield "max_new_tokens", f"must be below max_positions ({self.max_positions}), got {self.max_new_tokens}"
