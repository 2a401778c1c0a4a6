"""Config of the ``gmlp`` cell (torch-free, imported by the plugin's hook module)."""
from __future__ import annotations

import attrs

from aa_core.plugin import one_of, positive

#: Named sizes; with C = 32 and a 26-neighbourhood (K = 27) and the shared gate kernel they
#: give 9,724 and 25,724 parameters (formula in the README). Explicit keys override them.
PRESETS: dict[str, dict[str, int]] = {
    "10k": {"channels": 32, "hidden": 192},
    "25k": {"channels": 32, "hidden": 512},
}
DEFAULTS = {"channels": 16, "hidden": 32}


@attrs.define
class GMLPCellConfig:
    """gMLP cell with a Spatial Gating Unit over the neighbourhood (Liu et al. 2021).

    - ``channels``: state width C; ``hidden``: d_ffn (even; split into two halves of d/2).
    - ``gate_kernel``: ``"shared"`` = one weight per neighbour position shared by all d/2
      gate channels; ``"depthwise"`` = one weight per position and gate channel.
    - ``memory_gate``: GRU-style update gate, Δs = z ⊙ (tanh(cand) − s).
    - ``preset``: ``"10k"`` or ``"25k"`` fills ``channels``/``hidden`` left unset.
    - ``init_eps``: gate weights start in ±init_eps/K, gate bias at 1 (near-identity gate).
    """

    channels: int | None = attrs.field(default=None, validator=positive)
    hidden: int | None = attrs.field(default=None, validator=positive)
    gate_kernel: str = attrs.field(default="shared", validator=one_of(["shared", "depthwise"]))
    memory_gate: bool = False
    preset: str | None = attrs.field(default=None, validator=one_of([None, *PRESETS]))
    init_eps: float = attrs.field(default=1e-3, validator=positive)
    zero_init: bool = False

    def __attrs_post_init__(self):
        base = PRESETS.get(self.preset, DEFAULTS)
        if self.channels is None:
            self.channels = base["channels"]
        if self.hidden is None:
            self.hidden = base["hidden"]

    def check(self):
        if self.hidden % 2:
            yield "hidden", f"must be even (split into two halves), got {self.hidden}"


def param_count(channels: int, hidden: int, k: int, gate_kernel: str = "shared", memory_gate: bool = False) -> int:
    """Exact parameter count (see README): LN(C) + U + LN(d/2) + gate + V [+ memory gate]."""
    C, d = channels, hidden
    h = d // 2
    gate = (k + 1) if gate_kernel == "shared" else (k + 1) * h
    total = 2 * C + (C * d + d) + 2 * h + gate + (h * C + C)
    if memory_gate:
        total += 2 * C * C + C
    return total
