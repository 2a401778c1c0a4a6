"""cct cell: parameter formula, conv tokenizer == conv3d over the neighbourhood cube,
chunking invariance, locality (conformance kit), propagator paths."""
import pytest
import torch
import torch.nn.functional as F

from aa_cct.cell import CCTCell
from aa_cct.config import CCTCellConfig, param_count
from aa_core.conformance import build_registered, check_cell, check_nca_paths
from aa_core.conformance import lattice as core_lattice


def lattice(size=(4, 4, 4), nbh=26, boundary="zero"):
    return core_lattice(size, nbh, boundary)


CONFIGS = [
    {},
    {"preset": "10k"},
    {"preset": "25k"},
    {"tokenizer_kernel": 1, "layers": 2, "dim": 12, "heads": 3, "mlp_ratio": 1.5},
]


@pytest.mark.parametrize("nbh", [6, 18, 26])
@pytest.mark.parametrize("kw", CONFIGS)
def test_param_formula(nbh, kw):
    cfg = CCTCellConfig(**kw)
    g = lattice(nbh=nbh)
    n = sum(p.numel() for p in CCTCell(cfg, g).parameters())
    assert n == param_count(cfg.channels, cfg.dim, cfg.layers, cfg.mlp_hidden, g.k, cfg.tokenizer_kernel)


def test_preset_sizes():
    g = lattice(nbh=26)
    assert sum(p.numel() for p in CCTCell(CCTCellConfig(preset="10k"), g).parameters()) == 9905
    assert sum(p.numel() for p in CCTCell(CCTCellConfig(preset="25k"), g).parameters()) == 23889


@pytest.mark.parametrize("nbh", [6, 18, 26])
@pytest.mark.parametrize("kernel", [3, 1])
def test_tokenizer_is_conv3d_over_neighbourhood_cube(nbh, kernel):
    torch.manual_seed(0)
    g = lattice(nbh=nbh)
    cell = CCTCell(CCTCellConfig(tokenizer_kernel=kernel), g).double()
    nb = torch.randn(5, g.k, cell.channels, dtype=torch.float64)
    cube = torch.zeros(5, cell.channels, 3, 3, 3, dtype=torch.float64)
    for i, (dx, dy, dz) in enumerate(g.offsets):
        cube[:, :, dx + 1, dy + 1, dz + 1] = nb[:, i]
    ref = F.relu(F.conv3d(cube, cell.tokenizer.weight, cell.tokenizer.bias, padding=kernel // 2))
    ref = torch.stack([ref[:, :, dx + 1, dy + 1, dz + 1] for dx, dy, dz in g.offsets], dim=1)
    torch.testing.assert_close(cell.tokenize(nb), ref)


def test_chunking_does_not_change_the_update():
    torch.manual_seed(1)
    g = lattice(nbh=18)
    cell = CCTCell(CCTCellConfig(layers=2), g).eval()
    x = torch.randn(2, g.num_cells, g.k, cell.channels)
    whole = cell(x)
    cell.config.chunk_cells = 7  # 128 sequences in uneven chunks
    torch.testing.assert_close(cell(x), whole)



def test_without_positions_pointwise_tokens_are_permutation_invariant():
    """SeqPool + attention are permutation-equivariant/invariant: with kernel-1 tokens and no
    positional embedding, permuting the K neighbours cannot change the update."""
    torch.manual_seed(2)
    g = lattice(nbh=26)
    cell = CCTCell(CCTCellConfig(tokenizer_kernel=1, layers=2), g).double().eval()
    with torch.no_grad():
        cell.pos.zero_()
    x = torch.randn(1, g.num_cells, g.k, cell.channels, dtype=torch.float64)
    perm = torch.randperm(g.k)
    torch.testing.assert_close(cell(x[:, :, perm]), cell(x))
    with torch.no_grad():
        cell.pos.normal_()
    assert not torch.allclose(cell(x[:, :, perm]), cell(x))


@pytest.mark.parametrize("config", [{}, {"tokenizer_kernel": 1, "layers": 2}])
def test_conformance_kit(config):
    cell, ctx = build_registered("cell", "cct", config)
    assert isinstance(cell, CCTCell)
    check_cell(cell, ctx.geometry)


@pytest.mark.parametrize("nbh,boundary", [(6, "zero"), (18, "periodic"), (26, "periodic")])
def test_nca_reference_and_fast_paths(nbh, boundary):
    check_nca_paths("cct", None, nbh, boundary)
