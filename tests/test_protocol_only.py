"""Components written from aa_core.protocols alone (no core class inherited) pass the conformance kit."""
from __future__ import annotations

import torch
from torch import nn

from aa_core import protocols as P
from aa_core.builtins.configs import NCAConfig
from aa_core.conformance import check_cell, check_geometry, check_propagator
from aa_core.lattice.nca import NCAPropagator


class TorusGeometry:
    """A periodic X×Y×Z lattice with the 6-neighbourhood, written against the Geometry protocol only."""

    neighbourhood = 6
    boundary = "periodic"

    def __init__(self, size: tuple[int, int, int], periodic_axes: tuple[bool, bool, bool] = (True, True, True)):
        self.size = size
        self.periodic_axes = periodic_axes

    num_cells = property(lambda self: self.size[0] * self.size[1] * self.size[2])
    offsets = property(lambda self: [o for o in ((a, b, c) for a in (-1, 0, 1) for b in (-1, 0, 1) for c in (-1, 0, 1))
                                     if sum(map(abs, o)) <= 1])
    k = property(lambda self: len(self.offsets))
    center_index = property(lambda self: self.offsets.index((0, 0, 0)))
    stencil_positions = property(lambda self: torch.tensor([(a + 1) * 9 + (b + 1) * 3 + c + 1 for a, b, c in self.offsets]))
    all_zero_boundary = property(lambda self: not any(self.periodic_axes))
    input_cells = property(lambda self: torch.arange(0, self.num_cells, self.size[2]))  # the z = 0 face
    output_cells = property(lambda self: torch.arange(self.size[2] - 1, self.num_cells, self.size[2]))  # z = Z-1

    def stencil_mask(self) -> torch.Tensor:
        m = torch.zeros(27)
        m[self.stencil_positions] = 1
        return m.view(3, 3, 3)

    def _coords(self) -> torch.Tensor:
        X, Y, Z = self.size
        return torch.stack(torch.meshgrid(torch.arange(X), torch.arange(Y), torch.arange(Z), indexing="ij"), -1).view(-1, 3)

    def neighbour_index(self) -> torch.Tensor:
        dims, per = torch.tensor(self.size), torch.tensor(self.periodic_axes)
        nb = self._coords()[:, None] + torch.tensor(self.offsets)[None]  # [N, K, 3]
        valid = (((nb >= 0) & (nb < dims)) | per).all(-1)
        nb = nb % dims
        ids = (nb[..., 0] * self.size[1] + nb[..., 1]) * self.size[2] + nb[..., 2]
        return torch.where(valid, ids, torch.full_like(ids, self.num_cells))

    def gather(self, state: torch.Tensor) -> torch.Tensor:
        padded = torch.cat([state, state.new_zeros(state.shape[0], 1, state.shape[2])], 1)
        return padded[:, self.neighbour_index()]

    def to_grid(self, state: torch.Tensor) -> torch.Tensor:
        return state.view(state.shape[0], *self.size, state.shape[-1])

    def to_cells(self, grid: torch.Tensor) -> torch.Tensor:
        return grid.reshape(grid.shape[0], self.num_cells, grid.shape[-1])

    def pad(self, grid_cf: torch.Tensor, width: int = 1) -> torch.Tensor:
        x = grid_cf
        for axis, periodic in enumerate(self.periodic_axes):
            d = 2 + axis
            if periodic:
                x = torch.cat([x.narrow(d, x.shape[d] - width, width), x, x.narrow(d, 0, width)], d)
            else:
                zeros = x.new_zeros(*x.shape[:d], width, *x.shape[d + 1:])
                x = torch.cat([zeros, x, zeros], d)
        return x

    def slab(self, planes: int) -> TorusGeometry:
        return TorusGeometry((planes, self.size[1], self.size[2]), (False, *self.periodic_axes[1:]))

    def hop_distance(self, cell: int) -> torch.Tensor:
        c = self._coords()
        d = (c - c[cell]).abs()
        dims = torch.tensor(self.size)
        d = torch.where(torch.tensor(self.periodic_axes), torch.minimum(d, dims - d), d)
        return d.sum(-1)


class SumCell(nn.Module):
    """Written from the Cell protocol only: a residual update from a weighted neighbourhood sum."""

    def __init__(self, k: int, channels: int):
        super().__init__()
        self.channels = channels
        self.w = nn.Parameter(torch.randn(k, channels) * 0.1)
        self.mix = nn.Linear(channels, channels)

    def forward(self, neighbourhood: torch.Tensor) -> torch.Tensor:  # [B, N, K, C] → [B, N, C]
        return torch.tanh(self.mix((neighbourhood * self.w).sum(2)))

    def post_update(self, grid: torch.Tensor) -> torch.Tensor:
        return grid.clamp(-3.0, 3.0)


def test_protocol_only_components_pass_the_kit():
    g = TorusGeometry((4, 3, 5))
    assert isinstance(g, P.Geometry)
    check_geometry(g)
    cell = SumCell(g.k, 4)
    assert isinstance(cell, P.Cell) and isinstance(cell, P.PostUpdateCell) and not isinstance(cell, P.LatticeCell)
    check_cell(cell, g)
    prop = NCAPropagator(NCAConfig(steps=2), g, cell)
    check_propagator(prop, g, 4)
    with torch.no_grad():
        out = prop(torch.randn(2, g.num_cells, 4) * 10)
    assert out.abs().max() <= 3.0  # post_update applied after each step


def test_missing_member_is_named_by_the_protocol_check():
    import pytest

    class Incomplete(TorusGeometry):
        hop_distance = None

    with pytest.raises(AssertionError, match="Geometry: missing hop_distance"):
        check_geometry(Incomplete((2, 2, 2)))
