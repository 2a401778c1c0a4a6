"""Hypothesis property tests of the shape contracts for every registered cell and the lattice."""
from __future__ import annotations

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aa_core.conformance import build_registered, check_cell, check_geometry, check_propagator
from aa_core.conformance.strategies import lattice_configs
from aa_core.host import PluginHost

CELLS = sorted(r.component.name for r in PluginHost().all_components() if r.component.kind == "cell")
LOCAL_PROPAGATORS = ["nca"]
FAST = settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize("name", CELLS)
@FAST
@given(geometry=lattice_configs(max_side=5, max_cells=60))
def test_cell_contract_on_random_lattices(name, geometry):
    cell, ctx = build_registered("cell", name, base={"geometry": geometry})
    check_geometry(ctx.geometry)
    check_cell(cell, ctx.geometry)


@pytest.mark.parametrize("name", LOCAL_PROPAGATORS)
@FAST
@given(geometry=lattice_configs(max_side=6, max_cells=120), steps=st.integers(0, 3), channels=st.integers(1, 6))
def test_local_propagator_light_cone(name, geometry, steps, channels):
    prop, ctx = build_registered(
        "propagator", name, {"steps": steps}, base={"geometry": geometry, "cell": {"name": "mlp", "channels": channels, "hidden": 8}}
    )
    check_propagator(prop, ctx.geometry, channels)


@FAST
@given(geometry=lattice_configs(max_side=6, max_cells=120))
def test_gather_matches_coordinates(geometry):
    """Each neighbour id is the cell at centre + offset (wrapped or outside), for every cell."""
    _, ctx = build_registered("geometry", "lattice", geometry)
    g = ctx.geometry
    coords = g.coords()
    idx = g.neighbour_index()
    dims = torch.tensor(g.size)
    for k, off in enumerate(g.offsets):
        target = coords + torch.tensor(off)
        inside = ((target >= 0) & (target < dims)).all(-1)
        if g.boundary == "periodic":
            target, inside = target % dims, torch.ones_like(inside)
        expect = (target[:, 0] * g.size[1] + target[:, 1]) * g.size[2] + target[:, 2]
        expect = torch.where(inside, expect, torch.full_like(expect, g.num_cells))
        assert torch.equal(idx[:, k], expect)
