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
        return max(1, round(self.dim * self.mlp_ratio))

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
