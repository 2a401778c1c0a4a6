"""The ``schedule`` propagator: local and global passes in one spec ("hybrid_cct_mamba").

``steps = ["nca:4", "mamba", "nca:4"]`` runs 4 NCA steps with the spec's cell (any cell: mlp,
gmlp, cct …), one Mamba global pass, 4 more NCA steps. All ``nca`` entries share the one cell
(a cellular automaton has one rule); each ``mamba`` entry has its own weights unless
``tie_mamba``; ``"mamba:k"`` repeats that entry's pass k times with the same weights.

A :class:`~aa_core.protocols.ScheduledPropagator`: pipelines that read the lattice after every
update call ``step_at(state, t)`` (``ca_classifier``) or ``step_grid_at(grid, t)`` (``growth``):
update ``t`` of the schedule — one NCA step or one Mamba pass — cycling with ``period`` (the NCA
steps plus the Mamba passes), so a roll-out longer than one schedule repeats it as the CA's rule.

Parameters: the cell's (counted once) + one mamba propagator per ``mamba`` entry (or one).
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from aa_core.plugin import NCAPropagator

from .config import ScheduleConfig, parse_step
from .propagator import MambaPropagator


class SchedulePropagator(nn.Module):
    def __init__(self, config: ScheduleConfig, geometry: Any, cell: Any):
        super().__init__()
        self.config = config
        self.geometry = geometry
        self.cell = cell
        self.plan: list[tuple[str, int, int]] = []  # (kind, repeats, module index)
        self.updates: list[tuple[str, int]] = []  # (kind, module index): one entry per lattice update
        self.stages = nn.ModuleList()
        mamba_cfg = config.mamba_config()
        shared = None  # stage index of the tied mamba pass
        nca_steps = 0
        for text in config.steps:
            step = parse_step(text)
            assert step is not None, text  # check() rejected malformed steps when the spec was loaded
            kind, n = step
            if kind == "nca":
                nca_steps += n
                self.stages.append(NCAPropagator(config.nca_config(n), geometry, cell))
                self.plan.append((kind, 1, len(self.stages) - 1))
                self.updates += [(kind, len(self.stages) - 1)] * n
            else:
                if shared is None or not config.tie_mamba:
                    self.stages.append(MambaPropagator(mamba_cfg, geometry, cell.channels))
                    shared = len(self.stages) - 1
                self.plan.append((kind, n, shared))
                self.updates += [(kind, shared)] * n
        # a schedule without a global pass is local: it keeps the NCA light cone
        self.steps = nca_steps
        self.light_cone = all(kind == "nca" for kind, _, _ in self.plan)

    @property
    def period(self) -> int:
        """Lattice updates in one pass of the schedule: NCA steps plus Mamba passes."""
        return len(self.updates)

    def _update(self, t: int) -> tuple[str, Any]:
        """(kind, stage) of update ``t``, modulo ``period``: an NCAPropagator or a MambaPropagator."""
        kind, i = self.updates[t % len(self.updates)]
        return kind, self.stages[i]

    def step_at(self, state: torch.Tensor, t: int) -> torch.Tensor:
        """Update ``t`` (0-based, modulo ``period``) of the schedule on ``[B, N, C]``."""
        kind, stage = self._update(t)
        return stage.step(state) if kind == "nca" else stage(state)

    def step_grid_at(self, grid: torch.Tensor, t: int) -> torch.Tensor:
        """``step_at`` on the channels-last grid ``[B, X, Y, Z, C]``."""
        kind, stage = self._update(t)
        if kind == "nca":
            return stage.step_grid(grid)
        g = self.geometry
        return g.to_grid(stage(g.to_cells(grid.contiguous())))

    def forward(self, state):
        for _kind, repeats, i in self.plan:
            for _ in range(repeats):
                state = self.stages[i](state)
        return state


def build(config: ScheduleConfig, ctx) -> SchedulePropagator:
    return SchedulePropagator(config, ctx.geometry, ctx.cell)
