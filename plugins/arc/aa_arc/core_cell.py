"""The ARC NCA with any registered cell (``[arc] cell``) in place of the built-in update MLP.

The state and the rules around the cell are :class:`aa_arc.batched.BatchedNCA`'s — 10 one-hot colour
channels with the input written in, ``hidden`` channels, a fixed "inside the grid" channel, cells
outside a grid reset to zero after every step — but the update is the cell's lattice form
(``lattice_forward``, the Cell contract) on an ``H × W × 1`` zero-boundary lattice, so the core
``mlp``, ``growing_nca``, ``gmlp`` … can be compared on ARC. ``M`` copies are built from the registry,
each from its own seed, and their parameters stacked ``[M, ...]`` (one Adam, per-model gradient
normalisation as for the built-in model); a step runs the copies under ``torch.vmap`` where the cell
allows it, else one after another.
"""
from __future__ import annotations

import copy
from typing import Any

import torch
import torch.nn.functional as F
from torch.func import functional_call, stack_module_state

from aa_core.run import BuildContext, validate

from .batched import COLOURS, StackedNCAs
from .config import cell_spec


class _LatticeStep(torch.nn.Module):
    """``cell.lattice_forward(grid, geometry)`` as a module call (what ``functional_call`` needs)."""

    def __init__(self, cell: Any, geometry: Any):
        super().__init__()
        self.cell, self.geometry = cell, geometry

    def forward(self, grid: torch.Tensor) -> torch.Tensor:
        return self.cell.lattice_forward(grid, self.geometry)


class CellNCA(StackedNCAs):
    """One NCA per seed around a registered cell; the interface of :class:`aa_arc.batched.BatchedNCA`."""

    def __init__(self, seeds: list[int], hidden: int, cell: dict[str, Any], h: int, w: int):
        self.models, self.hidden = len(seeds), hidden
        self.state_channels = COLOURS + hidden
        self.channels = self.state_channels + 1  # + the fixed "inside the grid" channel, last
        spec = validate(cell_spec(cell, self.channels, h, w), "[arc] cell")
        steps = []
        with torch.random.fork_rng(devices=[]):  # the caller's global RNG is left as it was
            for s in seeds:  # each NCA's initial weights come from its own seed, whatever its group
                torch.manual_seed(s)
                ctx = BuildContext(spec)
                steps.append(_LatticeStep(ctx.cell, ctx.geometry))
        params, buffers = stack_module_state(steps)
        self.params = {k: v.detach().requires_grad_() for k, v in params.items()}
        self.buffers = buffers
        self.base = copy.deepcopy(steps[0])
        self.vmapped = self._vmap_works(h, w)

    def _vmap_works(self, h: int, w: int) -> bool:
        probe = torch.zeros(self.models, 1, h, w, 1, self.channels)
        try:
            self._vmapped(probe)
        except RuntimeError:  # e.g. a channels-last layout query, not batchable under vmap
            return False
        return True

    def _vmapped(self, grid: torch.Tensor) -> torch.Tensor:
        return torch.vmap(lambda p, b, x: functional_call(self.base, (p, b), (x,)))(self.params, self.buffers, grid)

    def _update(self, grid: torch.Tensor) -> torch.Tensor:
        """``[M, P, H, W, 1, C]`` → each model's update of its own grids."""
        if self.vmapped:
            return self._vmapped(grid)
        return torch.stack([
            functional_call(self.base, ({k: v[i] for k, v in self.params.items()}, {k: v[i] for k, v in self.buffers.items()}),
                            (grid[i],))
            for i in range(self.models)])

    def parameters(self) -> list[torch.Tensor]:
        return list(self.params.values())

    def forward(self, colours: torch.Tensor, steps: int, fire_rate: float = 1.0,
                generator: torch.Generator | None = None) -> torch.Tensor:
        """Colour logits ``[M, P, 10, H, W]`` after ``steps`` steps from grids ``colours [M, P, H, W]`` (−1 outside a grid)."""
        m, p, h, w = colours.shape
        inside = (colours >= 0).to(torch.float32).view(m, p, h, w, 1, 1)
        state = F.one_hot(colours.clamp_min(0), COLOURS).to(torch.float32).view(m, p, h, w, 1, COLOURS)
        state = torch.cat([state, state.new_zeros(m, p, h, w, 1, self.hidden), torch.ones_like(inside)], -1) * inside
        keep = torch.ones(self.channels)
        keep[-1] = 0.0  # the inside channel is fixed: no update reaches it
        for _ in range(steps):
            delta = self._update(state) * keep
            if fire_rate < 1.0:
                delta = delta * (torch.rand(m, p, h, w, 1, 1, generator=generator) < fire_rate)
            state = (state + delta) * inside
        return state[..., :COLOURS].view(m, p, h, w, COLOURS).permute(0, 1, 4, 2, 3)
