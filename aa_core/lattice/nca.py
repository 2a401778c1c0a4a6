"""The built-in ``nca`` propagator: T residual cell updates, as in neural cellular automata.

``s ← s + fire ⊙ cell(neighbourhood(s))`` for T steps, then the cell's ``post_update`` if it has
one (the update semantics of :mod:`aa_core.protocols`). During training a random fraction
``fire_rate`` of cells updates each step (eval: all cells, deterministic). With
``alive_threshold`` set, cells whose 3×3×3 max of ``alive_channel`` is below it are zeroed
before and after each update (Mordvintsev et al. 2020).

Paths:
- ``path = "fast"`` (default) runs the cell's lattice-wide ``lattice_forward(grid, geometry)``
  when it has one (the built-in ``mlp`` cell: oneDNN 3×3×3 conv + per-cell linear, see
  :mod:`aa_core.lattice.stencil`); cells without one fall back to the reference.
  A cell that is a :class:`~aa_core.protocols.MaskedLatticeCell` gets, in training or with
  alive masking, only the cells whose update can reach the result: those that fire and lie
  within one cell of a cell alive before the step (any other cell is zeroed by the alive mask,
  and only its neighbours read it). The result equals the dense step's for the same fire mask.
  A cell with no lattice-wide form gets the same selection through its plain ``forward``: the
  neighbourhoods of those cells only are gathered, ``[1, R, K, C]`` (the Cell contract makes row
  i's output depend on row i alone), so attention or transformer cells do half the work or less
  in training and keep only those rows' activations for the backward pass.
- ``path = "reference"`` evaluates the Cell contract literally: gather ``[B, N, K, C]``, apply.
- Chunked inference (no grad only): the lattice is processed in slabs of ``chunk_planes``
  x-planes, each read with a one-plane halo on either side, and updated in place. Peak memory
  is then the state plus one slab's temporaries instead of the whole lattice's hidden
  activations (Broca 333×333×166: ~10 GiB → < 2 GiB). It is used when ``chunk_planes`` is set,
  and automatically for no-grad calls on more than ``AUTO_CHUNK_CELLS`` cells (batch × cells).
  Any cell works: a slab is a :meth:`Lattice.slab` geometry (zero boundary in x, so halo planes
  stand in for the neighbours; the parent's rule in y and z).
- No-grad calls on small lattices run the batch in groups of about ``GROUP_CELLS`` cells
  (samples are independent; a 32³ lattice then runs one sample at a time, which keeps the
  hidden activations in cache: ~1.5× faster per cell than the whole batch at once here).
- ``gradient_checkpointing`` recomputes each step in the backward pass (memory ∝ T·state
  instead of T·hidden activations).
"""
from __future__ import annotations

from typing import Any, cast

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from ..protocols import MaskedLatticeCell
from .config import NCAConfig

AUTO_CHUNK_CELLS = 1 << 22  # no-grad calls above this many batch·cells are chunked automatically
AUTO_SLAB_CELLS = 1 << 20  # target batch·cells per slab when chunking automatically
GROUP_CELLS = 1 << 15  # no-grad calls run in batch groups of about this many cells (cache-sized)


class NCAPropagator(nn.Module):
    light_cone = True

    def __init__(self, config: NCAConfig, geometry, cell: nn.Module):
        super().__init__()
        self.config = config
        self.steps = config.steps
        self.geometry = geometry
        self.cell = cell
        self._slabs: dict[int, object] = {}
        self._selective: str | None = None  # see _selection: decided at the first step

    # ---- one update on a grid ------------------------------------------------------------
    @property
    def uses_fast_path(self) -> bool:
        return self.config.path == "fast" and hasattr(self.cell, "lattice_forward")

    def _delta(self, grid: torch.Tensor, geometry) -> torch.Tensor:
        """Cell update ``[B, X, Y, Z, C]`` → ``[B, X, Y, Z, C]`` on ``geometry``."""
        if self.uses_fast_path:
            return cast(Any, self.cell).lattice_forward(grid, geometry)  # checked by uses_fast_path
        cells = geometry.to_cells(grid)  # [B, N, C]
        return geometry.to_grid(self.cell(geometry.gather(cells)).contiguous())

    @staticmethod
    def _neighbourhood_max(x: torch.Tensor, geometry) -> torch.Tensor:
        """``[B, X, Y, Z, 1]`` → the 3×3×3 max around each cell (by the boundary rule), float, no grad.

        Three running maxima of shifted views, one per axis (``max_pool3d`` on one channel is
        many times slower on CPU).
        """
        p = geometry.pad(x.detach().permute(0, 4, 1, 2, 3).float())  # [B, 1, X+2, Y+2, Z+2]
        for dim in (2, 3, 4):
            n = p.shape[dim] - 2
            p = torch.maximum(torch.maximum(p.narrow(dim, 0, n), p.narrow(dim, 1, n)), p.narrow(dim, 2, n))
        return p.permute(0, 2, 3, 4, 1)

    def _alive(self, grid: torch.Tensor, geometry) -> torch.Tensor:
        """``[B, X, Y, Z, 1]`` bool: 3×3×3 max of the alive channel above the threshold."""
        c, threshold = self.config.alive_channel, self.config.alive_threshold
        assert threshold is not None  # only called when set
        return self._neighbourhood_max(grid[..., c : c + 1], geometry) > threshold

    def _fire(self, grid: torch.Tensor) -> torch.Tensor | None:
        if self.training and self.config.fire_rate < 1.0:
            return torch.rand(grid.shape[:4] + (1,), device=grid.device) < self.config.fire_rate
        return None

    def _selection(self) -> str:
        """How a step with fire or alive masks runs on the fast path: ``"masked"`` (the cell's
        ``lattice_forward_at``), ``"rows"`` (a cell without a lattice form: ``forward`` on the selected
        rows) or ``""`` (dense)."""
        if self._selective is None:
            if self.config.path != "fast":
                self._selective = ""
            elif not self.uses_fast_path:
                self._selective = "rows"
            else:
                self._selective = "masked" if isinstance(self.cell, MaskedLatticeCell) else ""
        return self._selective

    def _delta_at(self, grid: torch.Tensor, geometry, where: torch.Tensor) -> torch.Tensor:
        """The cell's ``forward`` on the neighbourhoods of the cells in ``where`` ``[B, X, Y, Z, 1]``
        only, zero elsewhere: ``[B, X, Y, Z, C]``."""
        cells = geometry.to_cells(grid)  # [B, N, C]
        B, N, C = cells.shape
        if grid.is_meta:  # a memory estimate's trace: as many rows as fire on average (reach not counted)
            rate = self.config.fire_rate if self.training else 1.0
            picked = torch.zeros(max(1, round(B * N * min(rate, 1.0))), dtype=torch.long, device="meta")
        else:
            picked = where.reshape(B * N).nonzero().squeeze(1)  # [R] flat ids b·N + n
        empty = len(picked) == 0  # nothing fires: one row, times zero, keeps every parameter in the graph (DDP)
        if empty:
            picked = picked.new_zeros(1)
        padded = torch.cat([cells, cells.new_zeros(B, 1, C)], dim=1)  # [B, N + 1, C]: row N is the zero outside
        index = geometry.neighbour_index().to(grid.device)[picked % N]  # [R, K]
        rows = self.cell(padded[(picked // N)[:, None], index][None])[0]  # [1, R, K, C] → [R, C]
        if empty:
            rows = rows * 0
        return geometry.to_grid(rows.new_zeros(B * N, C).index_copy(0, picked, rows).view(B, N, C))

    def _stepped(self, grid: torch.Tensor, geometry, alive: torch.Tensor | None = None) -> torch.Tensor:
        """``grid + fire ⊙ delta`` (no alive masking; ``alive`` = the cells alive before the step, if masked)."""
        selection = self._selection()
        if selection and (self.training or alive is not None):
            where = self._fire(grid)
            if alive is not None:  # only an alive cell's neighbourhood reaches the masked result
                reach = self._neighbourhood_max(alive, geometry) > 0
                where = reach if where is None else where & reach
            if where is not None:
                if selection == "rows":
                    return grid + self._delta_at(grid, geometry, where)
                return grid + cast(MaskedLatticeCell, self.cell).lattice_forward_at(grid, geometry, where)
        delta = self._delta(grid, geometry)
        fire = self._fire(grid)
        if fire is not None:
            delta = delta * fire.to(delta.dtype)
        return grid + delta

    def _post(self, grid: torch.Tensor) -> torch.Tensor:
        """The cell's ``post_update`` (e.g. a clamp), when it has one (see :mod:`aa_core.protocols`)."""
        post = getattr(self.cell, "post_update", None)
        return grid if post is None else post(grid)

    def step_grid(self, grid: torch.Tensor) -> torch.Tensor:
        """One full step on the whole lattice, ``[B, X, Y, Z, C]``."""
        g = self.geometry
        if self.config.alive_threshold is None:
            return self._post(self._stepped(grid, g))
        pre = self._alive(grid, g)
        new = self._stepped(grid, g, pre)
        return self._post(new * (pre & self._alive(new, g)).to(new.dtype))

    def step(self, state: torch.Tensor) -> torch.Tensor:
        """One step on ``[B, N, C]``."""
        g = self.geometry
        return g.to_cells(self.step_grid(g.to_grid(state.contiguous())))

    # ---- chunked, in-place inference -----------------------------------------------------
    def chunk_planes_for(self, state: torch.Tensor) -> int | None:
        """Slab thickness for this call, or None for the whole lattice (grad-enabled calls never chunk)."""
        if torch.is_grad_enabled():
            return None
        if self.config.chunk_planes is not None:
            return self.config.chunk_planes
        B = state.shape[0]
        if B * self.geometry.num_cells <= AUTO_CHUNK_CELLS:
            return None
        _, Y, Z = self.geometry.size
        return max(1, AUTO_SLAB_CELLS // (B * Y * Z))

    def _slab_geometry(self, planes: int):
        if planes not in self._slabs:
            self._slabs[planes] = self.geometry.slab(planes)
        return self._slabs[planes]

    def _haloed(self, grid: torch.Tensor, x0: int, x1: int, lower: torch.Tensor | None, wrap: torch.Tensor | None):
        """Planes ``x0:x1`` with their halos (``lower`` = old plane x0-1; upper read from ``grid`` or ``wrap``)."""
        X = grid.shape[1]
        parts = [] if lower is None else [lower]
        parts.append(grid[:, x0:x1])
        if x1 < X:
            parts.append(grid[:, x1 : x1 + 1])
        elif wrap is not None:
            parts.append(wrap)
        return torch.cat(parts, 1), (0 if lower is None else 1)

    def _slab_pass(self, grid: torch.Tensor, planes: int, fn, in_place: bool) -> list[torch.Tensor]:
        """Apply ``fn(haloed_slab, slab_geometry)`` slab by slab; write back in place or collect outputs."""
        X = grid.shape[1]
        periodic_x = self.geometry.periodic_axes[0]
        wrap = grid[:, :1].clone() if periodic_x else None  # old plane 0, the upper halo of the last slab
        lower = grid[:, X - 1 :].clone() if periodic_x else None  # old plane X-1, the lower halo of slab 0
        outs = []
        for x0 in range(0, X, planes):
            x1 = min(X, x0 + planes)
            slab, lo = self._haloed(grid, x0, x1, lower, wrap)
            lower = grid[:, x1 - 1 : x1].clone() if in_place else grid[:, x1 - 1 : x1]
            out = fn(slab, self._slab_geometry(slab.shape[1]))[:, lo : lo + x1 - x0]
            if in_place:
                grid[:, x0:x1] = out
            else:
                outs.append(out)
            del slab, out
        return outs

    def _chunked(self, grid: torch.Tensor, planes: int) -> torch.Tensor:
        grid = grid.clone()  # updated in place, step after step
        alive = self.config.alive_threshold is not None
        for _ in range(self.steps):
            if alive:
                pre = torch.cat(self._slab_pass(grid, planes, self._alive, in_place=False), 1)
            self._slab_pass(grid, planes, self._stepped, in_place=True)
            if alive:
                post = torch.cat(self._slab_pass(grid, planes, self._alive, in_place=False), 1)
                grid.mul_((pre & post).to(grid.dtype))
            if hasattr(self.cell, "post_update"):
                grid.copy_(self._post(grid))
        return grid

    # ---- T steps ---------------------------------------------------------------------------
    def forward(self, state: torch.Tensor) -> torch.Tensor:
        g = self.geometry
        grid = g.to_grid(state.contiguous())  # [B, X, Y, Z, C]
        planes = self.chunk_planes_for(state)
        if planes is not None and self.steps > 0:
            return g.to_cells(self._chunked(grid, planes))
        B = grid.shape[0]
        group = max(1, GROUP_CELLS // g.num_cells)
        if not torch.is_grad_enabled() and B > group:
            return torch.cat([self.forward(state[i : i + group]) for i in range(0, B, group)])
        for _ in range(self.steps):
            if self.config.gradient_checkpointing and self.training and grid.requires_grad:
                grid = checkpoint(self.step_grid, grid, use_reentrant=False)
            else:
                grid = self.step_grid(grid)
        return g.to_cells(grid)


def build(config: NCAConfig, ctx) -> NCAPropagator:
    return NCAPropagator(config, ctx.geometry, ctx.cell)
