"""The built-in ``lattice`` geometry: an X×Y×Z grid with 6/18/26 neighbours and two faces.

Sizes: ``size`` from the config times ``scale_factor``, each side rounded half up and at
least 1 (Broca 333×333×166 × 0.1 → 33×33×17; 0.5 → 167×167×83).

Boundary is ``zero`` (outside cells read as 0) or ``periodic`` (a torus). Internally the rule
is kept per axis (``periodic_axes``) so that :meth:`Lattice.slab` can describe a piece of the
lattice cut along x (zero-padded in x, the parent's rule in y and z): the chunked inference in
:mod:`aa_core.lattice.nca` runs any cell's ``lattice_forward`` on such slabs with halos.
"""
from __future__ import annotations

from functools import cached_property

import torch
import torch.nn.functional as F

from .config import LatticeConfig, scaled_size

_MAX_L1 = {6: 1, 18: 2, 26: 3}


def neighbour_offsets(neighbourhood: int) -> list[tuple[int, int, int]]:
    """Offsets in raster order over the 3×3×3 cube: 6 = faces, 18 = + edges, 26 = + corners (plus self)."""
    max_l1 = _MAX_L1[neighbourhood]
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
        self.size = scaled_size(config.size, config.scale_factor)
        self.neighbourhood = config.neighbourhood
        self.boundary = config.boundary
        self.periodic_axes = (config.boundary == "periodic",) * 3
        self.input_face = config.input_face
        self.output_face = config.output_face
        # computed now, not on first use: torch.compile cannot trace a cached_property's lock
        self.offsets: list[tuple[int, int, int]] = neighbour_offsets(self.neighbourhood)

    def __repr__(self) -> str:
        X, Y, Z = self.size
        return f"Lattice({X}×{Y}×{Z}, {self.neighbourhood} neighbours, {self.boundary} boundary)"

    def slab(self, planes: int) -> Lattice:
        """The same lattice cut to ``planes`` x-planes, zero boundary in x (for chunking with halos)."""
        s = object.__new__(Lattice)
        s.config = self.config
        s.size = (planes, self.size[1], self.size[2])
        s.neighbourhood = self.neighbourhood
        s.boundary = self.boundary
        s.periodic_axes = (False, self.periodic_axes[1], self.periodic_axes[2])
        s.input_face = self.input_face
        s.output_face = self.output_face
        s.offsets = self.offsets
        return s

    @property
    def num_cells(self) -> int:
        X, Y, Z = self.size
        return X * Y * Z

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
        periodic = torch.tensor(self.periodic_axes)
        inside = (nb >= 0) & (nb < dims)  # [N, K, 3]
        valid = (inside | periodic).all(-1)  # [N, K]
        nb = nb % dims
        ids = (nb[..., 0] * Y + nb[..., 1]) * Z + nb[..., 2]
        return torch.where(valid, ids, torch.full_like(ids, self.num_cells))

    # ---- faces -------------------------------------------------------------------------
    def face_cells(self, face: str) -> torch.Tensor:
        """Ids of the cells on one face (``x0`` = the x = 0 plane, ``x1`` = x = X-1, ...), ascending."""
        axis = "xyz".index(face[0])
        value = 0 if face[1] == "0" else self.size[axis] - 1
        X, Y, Z = self.size
        ranges = [torch.arange(n) for n in self.size]
        ranges[axis] = torch.tensor([value])
        x, y, z = torch.meshgrid(*ranges, indexing="ij")  # only the face's cells: O(face), any lattice size
        return ((x * Y + y) * Z + z).flatten()

    def face_shape(self, face: str) -> tuple[int, int]:
        """The face's 2-D shape (the two other sides, in x, y, z order); its cells are in raster order."""
        axis = "xyz".index(face[0])
        a, b = (s for i, s in enumerate(self.size) if i != axis)
        return a, b

    @cached_property
    def input_cells(self) -> torch.Tensor:
        return self.face_cells(self.input_face)

    @cached_property
    def output_cells(self) -> torch.Tensor:
        return self.face_cells(self.output_face)

    def input_width(self, channels: int) -> int:
        """Width of the vector written onto the input face: face cells × channels."""
        return len(self.input_cells) * channels

    def output_width(self, channels: int) -> int:
        """Width of the vector read from the output face: face cells × channels."""
        return len(self.output_cells) * channels

    def write_face(self, state: torch.Tensor, values: torch.Tensor, face: str | None = None) -> torch.Tensor:
        """Write ``values [B, F·C]`` (or ``[B, F, C]``) onto a face of ``state [B, N, C]`` (new tensor)."""
        cells = self.input_cells if face is None else self.face_cells(face)
        B, _, C = state.shape
        return state.index_copy(1, cells.to(state.device), values.reshape(B, len(cells), C))

    def read_face(self, state: torch.Tensor, face: str | None = None) -> torch.Tensor:
        """Read a face of ``state [B, N, C]`` as ``[B, F·C]`` (cells in raster order, channels inner)."""
        cells = self.output_cells if face is None else self.face_cells(face)
        return state.index_select(1, cells.to(state.device)).reshape(state.shape[0], -1)

    # ---- metric ------------------------------------------------------------------------
    def hop_distance(self, cell: int) -> torch.Tensor:
        """``[N]`` hops from ``cell`` to every cell under this neighbourhood (for light-cone checks)."""
        c = self.coords()
        d = (c - c[cell]).abs()
        dims = torch.tensor(self.size)
        periodic = torch.tensor(self.periodic_axes)
        d = torch.where(periodic, torch.minimum(d, dims - d), d)
        if self.neighbourhood == 26:
            return d.max(-1).values  # Chebyshev
        if self.neighbourhood == 6:
            return d.sum(-1)  # Manhattan
        # 18: a step changes at most two coordinates by one each
        return torch.maximum(d.max(-1).values, (d.sum(-1) + 1) // 2)

    # ---- layouts -----------------------------------------------------------------------
    def gather(self, state: torch.Tensor) -> torch.Tensor:
        """Reference neighbourhood gather: ``[B, N, C]`` → ``[B, N, K, C]`` (zeros outside)."""
        B, N, C = state.shape
        padded = torch.cat([state, state.new_zeros(B, 1, C)], dim=1)
        return padded[:, self.neighbour_index().to(state.device)]

    def to_grid(self, state: torch.Tensor) -> torch.Tensor:
        """``[B, N, C]`` → ``[B, X, Y, Z, C]`` (a view)."""
        return state.view(state.shape[0], *self.size, state.shape[-1])

    def to_cells(self, grid: torch.Tensor) -> torch.Tensor:
        """``[B, X, Y, Z, C]`` → ``[B, N, C]``."""
        return grid.reshape(grid.shape[0], self.num_cells, grid.shape[-1])

    @property
    def all_zero_boundary(self) -> bool:
        return not any(self.periodic_axes)

    def pad(self, grid_cf: torch.Tensor, width: int = 1) -> torch.Tensor:
        """Pad a channels-first ``[B, C, X, Y, Z]`` grid by ``width`` cells per side, by the boundary rule."""
        if self.all_zero_boundary:
            return F.pad(grid_cf, (width,) * 6)
        if all(self.periodic_axes):
            return F.pad(grid_cf, (width,) * 6, mode="circular")
        x = grid_cf
        for axis, periodic in enumerate(self.periodic_axes):
            dim = 2 + axis
            if periodic:
                n = x.shape[dim]
                x = torch.cat([x.narrow(dim, n - width, width), x, x.narrow(dim, 0, width)], dim)
            else:
                shape = list(x.shape)
                shape[dim] = width
                z = x.new_zeros(shape)
                x = torch.cat([z, x, z], dim)
        return x

    def stencil_mask(self) -> torch.Tensor:
        """``[3, 3, 3]`` 0/1 mask of the neighbourhood inside the full cube."""
        m = torch.zeros(3, 3, 3)
        for dx, dy, dz in self.offsets:
            m[dx + 1, dy + 1, dz + 1] = 1
        return m

    @cached_property
    def stencil_positions(self) -> torch.Tensor:
        """``[K]`` flat positions (0..26) of the offsets inside the 3×3×3 cube."""
        return torch.tensor([(dx + 1) * 9 + (dy + 1) * 3 + (dz + 1) for dx, dy, dz in self.offsets])


def build(config: LatticeConfig, ctx) -> Lattice:
    return Lattice(config)
