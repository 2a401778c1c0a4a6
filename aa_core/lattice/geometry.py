"""The built-in ``lattice`` geometry: an X×Y×Z grid with 6/18/26 neighbours and two faces."""
from __future__ import annotations

import math
from functools import cached_property

import torch

from ..configs import LatticeConfig


def neighbour_offsets(neighbourhood: int) -> list[tuple[int, int, int]]:
    """Offsets in raster order over the 3×3×3 cube: 6 = faces, 18 = + edges, 26 = + corners (plus self)."""
    max_l1 = {6: 1, 18: 2, 26: 3}[neighbourhood]
    return [
        (dx, dy, dz)
        for dx in (-1, 0, 1)
        for dy in (-1, 0, 1)
        for dz in (-1, 0, 1)
        if abs(dx) + abs(dy) + abs(dz) <= max_l1
    ]


class Lattice:
    """Index arithmetic for an X×Y×Z lattice; holds no weights."""

    def __init__(self, config: LatticeConfig):
        self.config = config
        s = config.scale_factor
        self.size = tuple(max(1, math.ceil(v * s - 1e-9)) if s != 1.0 else v for v in config.size)
        self.neighbourhood = config.neighbourhood
        self.boundary = config.boundary
        self.input_face = config.input_face
        self.output_face = config.output_face

    def __repr__(self) -> str:
        X, Y, Z = self.size
        return f"Lattice({X}×{Y}×{Z}, {self.neighbourhood} neighbours, {self.boundary} boundary)"

    @property
    def num_cells(self) -> int:
        X, Y, Z = self.size
        return X * Y * Z

    @cached_property
    def offsets(self) -> list[tuple[int, int, int]]:
        return neighbour_offsets(self.neighbourhood)

    @property
    def k(self) -> int:
        return len(self.offsets)

    @property
    def center_index(self) -> int:
        return self.offsets.index((0, 0, 0))

    def coords(self) -> torch.Tensor:
        """``[N, 3]`` integer coordinates of every cell, in cell-id order."""
        X, Y, Z = self.size
        g = torch.stack(torch.meshgrid(torch.arange(X), torch.arange(Y), torch.arange(Z), indexing="ij"), -1)
        return g.reshape(-1, 3)

    def neighbour_index(self) -> torch.Tensor:
        """``[N, K]`` neighbour ids; out-of-lattice neighbours (zero boundary) point at ``N`` (a zero row)."""
        return self._neighbour_index

    @cached_property
    def _neighbour_index(self) -> torch.Tensor:
        X, Y, Z = self.size
        c = self.coords()
        off = torch.tensor(self.offsets)
        nb = c[:, None, :] + off[None, :, :]  # [N, K, 3]
        dims = torch.tensor([X, Y, Z])
        if self.boundary == "periodic":
            nb = nb % dims
            valid = torch.ones(nb.shape[:2], dtype=torch.bool)
        else:
            valid = ((nb >= 0) & (nb < dims)).all(-1)
            nb = nb.clamp(min=0) % dims
        ids = (nb[..., 0] * Y + nb[..., 1]) * Z + nb[..., 2]
        return torch.where(valid, ids, torch.full_like(ids, self.num_cells))

    def face_cells(self, face: str) -> torch.Tensor:
        """Ids of the cells on one face (``x0`` = the x = 0 plane, ``x1`` = x = X-1, ...)."""
        axis = "xyz".index(face[0])
        value = 0 if face[1] == "0" else self.size[axis] - 1
        return torch.nonzero(self.coords()[:, axis] == value).flatten()

    @cached_property
    def input_cells(self) -> torch.Tensor:
        return self.face_cells(self.input_face)

    @cached_property
    def output_cells(self) -> torch.Tensor:
        return self.face_cells(self.output_face)

    def hop_distance(self, cell: int) -> torch.Tensor:
        """``[N]`` hops from ``cell`` to every cell under this neighbourhood (for light-cone checks)."""
        c = self.coords()
        d = (c - c[cell]).abs()
        if self.boundary == "periodic":
            dims = torch.tensor(self.size)
            d = torch.minimum(d, dims - d)
        if self.neighbourhood == 26:
            return d.max(-1).values  # Chebyshev
        if self.neighbourhood == 6:
            return d.sum(-1)  # Manhattan
        # 18: a step changes at most two coordinates by one each
        return torch.maximum(d.max(-1).values, (d.sum(-1) + 1) // 2)

    def gather(self, state: torch.Tensor) -> torch.Tensor:
        """Reference neighbourhood gather: ``[B, N, C]`` → ``[B, N, K, C]`` (zeros outside)."""
        B, N, C = state.shape
        padded = torch.cat([state, state.new_zeros(B, 1, C)], dim=1)
        return padded[:, self.neighbour_index()]

    def to_grid(self, state: torch.Tensor) -> torch.Tensor:
        """``[B, N, C]`` → ``[B, X, Y, Z, C]`` (a view)."""
        return state.view(state.shape[0], *self.size, state.shape[-1])

    def to_cells(self, grid: torch.Tensor) -> torch.Tensor:
        """``[B, X, Y, Z, C]`` → ``[B, N, C]``."""
        return grid.reshape(grid.shape[0], self.num_cells, grid.shape[-1])

    def pad(self, grid_cf: torch.Tensor) -> torch.Tensor:
        """Pad a channels-first ``[B, C, X, Y, Z]`` grid by one cell per side, by the boundary rule."""
        if self.boundary == "periodic":
            return torch.nn.functional.pad(grid_cf, (1, 1, 1, 1, 1, 1), mode="circular")
        return torch.nn.functional.pad(grid_cf, (1, 1, 1, 1, 1, 1))

    def stencil_mask(self) -> torch.Tensor:
        """``[3, 3, 3]`` 0/1 mask of the neighbourhood inside the full cube."""
        m = torch.zeros(3, 3, 3)
        for dx, dy, dz in self.offsets:
            m[dx + 1, dy + 1, dz + 1] = 1
        return m


def build(config: LatticeConfig, ctx) -> Lattice:
    return Lattice(config)
