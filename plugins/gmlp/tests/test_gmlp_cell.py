"""gmlp cell: parameter formula, lattice form == reference, locality, propagator paths."""
import pytest
import torch

from aa_core.conformance import build_registered, check_cell, check_nca_paths
from aa_core.conformance import lattice as core_lattice
from aa_gmlp.cell import GMLPCell
from aa_gmlp.config import GMLPCellConfig, param_count


def lattice(size=(4, 3, 5), nbh=26, boundary="zero"):
    return core_lattice(size, nbh, boundary)


@pytest.mark.parametrize("nbh", [6, 18, 26])
@pytest.mark.parametrize("gate_kernel", ["shared", "depthwise"])
@pytest.mark.parametrize("memory", [False, True])
@pytest.mark.parametrize("C,d", [(16, 32), (32, 64), (8, 6)])
def test_param_formula(nbh, gate_kernel, memory, C, d):
    g = lattice(nbh=nbh)
    cell = GMLPCell(GMLPCellConfig(channels=C, hidden=d, gate_kernel=gate_kernel, memory_gate=memory), g)
    assert sum(p.numel() for p in cell.parameters()) == param_count(C, d, g.k, gate_kernel, memory)


def test_components_md_and_presets():
    # components.md §1: C=32, d_ffn=64, 27 positions: shared 3,324, depthwise 4,192
    assert param_count(32, 64, 27, "shared") == 3324
    assert param_count(32, 64, 27, "depthwise") == 4192
    g = lattice(nbh=26)
    for preset, want in (("10k", 9724), ("25k", 25724)):
        cell = GMLPCell(GMLPCellConfig(preset=preset), g)
        assert sum(p.numel() for p in cell.parameters()) == want


def test_init_is_near_identity_gate():
    cell = GMLPCell(GMLPCellConfig(), lattice())
    assert torch.all(cell.gate_bias == 1)
    assert cell.gate_weight.abs().max() <= 1e-3 / cell.k


@pytest.mark.parametrize("nbh", [6, 18, 26])
@pytest.mark.parametrize("boundary", ["zero", "periodic"])
@pytest.mark.parametrize("gate_kernel", ["shared", "depthwise"])
@pytest.mark.parametrize("size", [(4, 3, 5), (1, 2, 3)])
def test_lattice_forward_equals_reference(nbh, boundary, gate_kernel, size):
    torch.manual_seed(0)
    g = lattice(size, nbh, boundary)
    cell = GMLPCell(GMLPCellConfig(channels=6, hidden=10, gate_kernel=gate_kernel, memory_gate=True), g).double()
    with torch.no_grad():  # move off the near-identity init so the gate really mixes
        cell.gate_weight.normal_()
        cell.gate_bias.normal_()
    s = torch.randn(2, g.num_cells, 6, dtype=torch.float64)
    ref = cell(g.gather(s))
    fast = g.to_cells(cell.lattice_forward(g.to_grid(s), g))
    torch.testing.assert_close(fast, ref, rtol=1e-10, atol=1e-10)


def test_locality_exact_stencil():
    """Δs at a cell changes under a perturbation of a neighbour, and never of a non-neighbour."""
    torch.manual_seed(1)
    g = lattice((5, 5, 5), 6, "zero")
    cell = GMLPCell(GMLPCellConfig(channels=4, hidden=8, gate_kernel="depthwise"), g).double()
    with torch.no_grad():
        cell.gate_weight.normal_()
    s = torch.randn(1, g.num_cells, 4, dtype=torch.float64)
    base = cell.lattice_forward(g.to_grid(s), g)
    centre = 62  # (2, 2, 2)
    s2 = s.clone()
    s2[0, centre] += torch.randn(4, dtype=torch.float64)  # not a constant: LN ignores those
    changed = (cell.lattice_forward(g.to_grid(s2), g) - base).abs().amax(-1).flatten() > 1e-12
    assert set(changed.nonzero().flatten().tolist()) == set(g.neighbour_index()[centre].tolist())


@pytest.mark.parametrize("config", [{}, {"gate_kernel": "depthwise", "memory_gate": True}])
def test_conformance_kit(config):
    cell, ctx = build_registered("cell", "gmlp", config)
    assert isinstance(cell, GMLPCell)
    check_cell(cell, ctx.geometry)


@pytest.mark.parametrize("nbh,boundary", [(6, "zero"), (18, "periodic"), (26, "periodic")])
def test_nca_reference_and_fast_paths_agree(nbh, boundary):
    check_nca_paths("gmlp", {"memory_gate": True}, nbh, boundary)
