"""The built-in ``nca`` propagator: T residual cell updates, as in neural cellular automata.

``s ← s + fire ⊙ cell(neighbourhood(s))`` for T steps. During training a random fraction
``fire_rate`` of cells updates each step (eval: all cells, deterministic). With
``alive_threshold`` set, cells whose 3×3×3 max of ``alive_channel`` is below it are zeroed
before and after each update (Mordvintsev et al. 2020). ``path = "fast"`` uses the cell's
lattice-wide form when it has one; ``"reference"`` evaluates the Cell contract literally.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn
from torch.utils.checkpoint import checkpoint

from ..configs import NCAConfig


class NCAPropagator(nn.Module):
    light_cone = True

    def __init__(self, config: NCAConfig, geometry, cell: nn.Module):
        super().__init__()
        self.config = config
        self.steps = config.steps
        self.geometry = geometry
        self.cell = cell

    def _update(self, state: torch.Tensor) -> torch.Tensor:
        g = self.geometry
        if self.config.path == "fast" and hasattr(self.cell, "lattice_forward"):
            return g.to_cells(self.cell.lattice_forward(g.to_grid(state), g))
        return self.cell(g.gather(state))

    def _alive(self, state: torch.Tensor) -> torch.Tensor:
        g = self.geometry
        a = rearrange(g.to_grid(state[..., self.config.alive_channel : self.config.alive_channel + 1]), "b x y z c -> b c x y z")
        alive = F.max_pool3d(g.pad(a), 3, stride=1) > self.config.alive_threshold
        return g.to_cells(rearrange(alive, "b c x y z -> b x y z c")).to(state.dtype)

    def step(self, state: torch.Tensor) -> torch.Tensor:
        pre = self._alive(state) if self.config.alive_threshold is not None else None
        delta = self._update(state)
        if self.training and self.config.fire_rate < 1.0:
            delta = delta * (torch.rand(state.shape[:2] + (1,), device=state.device) < self.config.fire_rate).to(delta.dtype)
        state = state + delta
        if pre is not None:
            state = state * pre * self._alive(state)
        return state

    def forward(self, state: torch.Tensor) -> torch.Tensor:
        for _ in range(self.steps):
            if self.config.gradient_checkpointing and self.training and state.requires_grad:
                state = checkpoint(self.step, state, use_reentrant=False)
            else:
                state = self.step(state)
        return state


def build(config: NCAConfig, ctx) -> NCAPropagator:
    return NCAPropagator(config, ctx.geometry, ctx.cell)
