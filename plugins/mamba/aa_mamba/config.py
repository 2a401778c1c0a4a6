"""Config classes of aa-mamba (torch-free: imported by the hook module)."""
from __future__ import annotations

import re
from typing import Any

import attrs

from aa_core.plugin import NCAConfig, one_of, positive, structure_config

ORDERS = ("raster", "bidirectional", "axes", "hilbert")
STEP_KINDS = ("nca", "mamba")
_STEP = re.compile(r"^\s*([a-z_]+)\s*(?::\s*(\d+))?\s*$")


@attrs.define
class MambaPropagatorConfig:
    """A global pass: ``layers`` × (RMSNorm → Mamba over each scan order, averaged) + residual."""

    layers: int = attrs.field(default=1, validator=positive)
    d_state: int = attrs.field(default=16, validator=positive)
    d_conv: int = attrs.field(default=4, validator=positive)
    expand: int = attrs.field(default=2, validator=positive)
    order: str = attrs.field(default="bidirectional", validator=one_of(ORDERS))
    tie_directions: bool = False
    backend: str = attrs.field(default="auto", validator=one_of(["auto", "cpu", "cuda"]))
    hierarchical: str = attrs.field(default="auto", validator=one_of(["auto", "on", "off"]))
    hierarchical_above: int = attrs.field(default=32768, validator=positive)
    chunk: list[int] = attrs.field(factory=lambda: [8, 8, 4], validator=positive)
    zero_init: bool = False

    def check(self):
        if len(self.chunk) != 3:
            yield "chunk", f"must have 3 items [cx, cy, cz], got {len(self.chunk)}"


def parse_step(text: str) -> tuple[str, int] | None:
    """``"nca:4"`` → ("nca", 4); ``"mamba"`` → ("mamba", 1); None when malformed."""
    m = _STEP.match(text) if isinstance(text, str) else None
    if not m or m.group(1) not in STEP_KINDS or (m.group(2) is not None and int(m.group(2)) < 1):
        return None
    return m.group(1), int(m.group(2) or 1)


@attrs.define
class ScheduleConfig:
    """A hybrid schedule of local (nca) and global (mamba) passes, run in order.

    ``steps`` entries are ``"nca:T"`` (T local steps with the spec's cell) or ``"mamba[:k]"`` (a
    global pass, applied k times with the same weights). ``[propagator.nca]`` holds NCA keys
    (not ``steps``), ``[propagator.mamba]`` the mamba propagator's keys.
    """

    steps: list[str] = attrs.field(factory=lambda: ["nca:2", "mamba", "nca:2"])
    nca: dict[str, Any] = attrs.field(factory=dict)
    mamba: dict[str, Any] = attrs.field(factory=dict)
    tie_mamba: bool = False

    def check(self):
        if not self.steps:
            yield "steps", "needs at least one entry, e.g. [\"nca:4\", \"mamba\", \"nca:4\"]"
        for i, text in enumerate(self.steps):
            if parse_step(text) is None:
                yield f"steps[{i}]", f"{text!r} is not 'nca:T' or 'mamba[:k]' (kinds: {', '.join(STEP_KINDS)}; T, k ≥ 1)"
        if "steps" in self.nca:
            yield "nca.steps", "set local step counts in propagator.steps (e.g. \"nca:4\"), not here"
        for key, cls, table in (("nca", NCAConfig, {k: v for k, v in self.nca.items() if k != "steps"}), ("mamba", MambaPropagatorConfig, self.mamba)):
            _, problems = structure_config(cls, table, key)
            for p in problems:
                yield p.path, p.message

    def nca_config(self, steps: int) -> NCAConfig:
        cfg, problems = structure_config(NCAConfig, {**self.nca, "steps": steps}, "nca")
        assert cfg is not None, problems  # check() validated the table when the spec was loaded
        return cfg

    def mamba_config(self) -> MambaPropagatorConfig:
        cfg, problems = structure_config(MambaPropagatorConfig, self.mamba, "mamba")
        assert cfg is not None, problems  # check() validated the table when the spec was loaded
        return cfg
