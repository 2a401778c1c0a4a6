"""ret cell: parameter formula, weight sharing, centre-query shortcut, pruning, int8,
compact storage round trip, conformance kit, propagator paths."""

import pytest
import torch
from torch import nn

from aa_core import UserError
from aa_core.conformance import build_registered, check_cell, check_nca_paths
from aa_core.conformance import lattice as core_lattice
from aa_ret.cell import RETCell
from aa_ret.config import PRESETS, RETCellConfig, param_count, reduce_sizes, reduced_config
from aa_ret.reduce import compact_state, load_compact, prune_linears, quantize_int8, reduce_for_inference, saved_bytes


def lattice(size=(4, 4, 4), nbh=26, boundary="zero"):
    return core_lattice(size, nbh, boundary)


def n_params(m):
    return sum(p.numel() for p in m.parameters())


@pytest.mark.parametrize("nbh", [6, 18, 26])
@pytest.mark.parametrize("kw", [{}, {"preset": "full"}, {"preset": "reduced"}, {"dim": 24, "heads": 3, "layers": 3, "share_layers": False, "mlp_ratio": 1.5}])
def test_param_formula(nbh, kw):
    cfg = RETCellConfig(**kw)
    g = lattice(nbh=nbh)
    assert n_params(RETCell(cfg, g)) == param_count(cfg.channels, cfg.dim, cfg.layers, cfg.mlp_hidden, g.k, cfg.share_layers)


def test_presets_and_reduction():
    g = lattice()
    assert n_params(RETCell(RETCellConfig(preset="full"), g)) == 19088
    assert n_params(RETCell(RETCellConfig(preset="reduced"), g)) == 3232
    assert PRESETS["reduced"] == reduce_sizes(PRESETS["full"]) == {**PRESETS["full"], "dim": 16, "heads": 2, "share_layers": True}
    r = reduced_config(RETCellConfig(preset="full"))
    assert (r.dim, r.heads, r.share_layers, r.prune_amount, r.int8) == (16, 2, True, 0.5, True)


def test_shared_layers_reuse_one_weight_set():
    g = lattice()
    shared = RETCell(RETCellConfig(layers=3, share_layers=True), g).eval()
    assert len(shared.layers) == 1
    unshared = RETCell(RETCellConfig(layers=3, share_layers=False), g).eval()
    with torch.no_grad():  # copy the one shared layer into all three: outputs must match
        for layer in unshared.layers:
            layer.load_state_dict(shared.layers[0].state_dict())
        for name in ("embed", "norm", "head"):
            getattr(unshared, name).load_state_dict(getattr(shared, name).state_dict())
        unshared.pos.copy_(shared.pos)
    x = torch.randn(1, g.num_cells, g.k, 8)
    torch.testing.assert_close(unshared(x), shared(x))


def test_centre_query_shortcut_is_exact():
    """The last layer evaluated for the centre query only equals the full layer read at the centre."""
    torch.manual_seed(0)
    g = lattice(nbh=18)
    cell = RETCell(RETCellConfig(layers=2, share_layers=False), g).double().eval()
    nb = torch.randn(9, g.k, 8, dtype=torch.float64)
    x = cell.embed(nb) + cell.pos
    x = cell.layers[0](x)
    full = cell.layers[1](x)[:, g.center_index]
    torch.testing.assert_close(cell.layers[1](x, query=g.center_index)[:, 0], full)
    torch.testing.assert_close(cell._cells(nb), cell.head(cell.norm(full)))


def test_pruning_zeroes_the_requested_fraction():
    g = lattice()
    cell = prune_linears(RETCell(RETCellConfig(), g), 0.5)
    for m in cell.modules():
        if isinstance(m, nn.Linear):
            assert abs((m.weight == 0).float().mean().item() - 0.5) < 0.02
            assert not hasattr(m, "weight_orig")  # made permanent


def test_int8_is_close_and_inference_only():
    torch.manual_seed(1)
    g = lattice()
    cell = RETCell(RETCellConfig(), g).eval()
    q = quantize_int8(cell)
    x = torch.randn(2, g.num_cells, g.k, 8)
    with torch.no_grad():
        ref, out = cell(x), q(x)
    assert (out - ref).abs().max() <= 0.1 * ref.abs().max()
    assert not torch.equal(out, ref)  # it really is quantized
    with pytest.raises(UserError):
        q.train()(x)


@pytest.mark.parametrize("int8", [False, True])
def test_compact_storage_round_trips_and_pruning_shrinks_it(int8):
    torch.manual_seed(2)
    g = lattice()
    cell = RETCell(RETCellConfig(preset="reduced"), g).eval()
    reduced = reduce_for_inference(cell, 0.5, int8)
    state = compact_state(reduced)
    fresh = reduce_for_inference(RETCell(RETCellConfig(preset="reduced"), g), 0.5, int8)
    load_compact(fresh, state)
    x = torch.randn(1, g.num_cells, g.k, 16)
    with torch.no_grad():
        assert torch.equal(fresh(x), reduced(x))
    dense = saved_bytes(compact_state(reduce_for_inference(cell, 0.0, int8), sparse=False))
    assert saved_bytes(state) < dense  # 50% pruning stored sparse costs fewer bytes
    assert saved_bytes(reduced.state_dict()) >= 0.9 * saved_bytes(reduce_for_inference(cell, 0.0, int8).state_dict())  # dense does not shrink


def test_build_applies_pruning_and_int8():
    cell, _ = build_registered("cell", "ret", {"prune_amount": 0.5, "int8": True})
    assert cell.quantized
    assert n_params(cell) < n_params(RETCell(RETCellConfig(), lattice((4, 4, 3))))  # Linear weights are packed int8 now


@pytest.mark.parametrize("config", [{}, {"share_layers": False, "layers": 1}])
def test_conformance_kit(config):
    cell, ctx = build_registered("cell", "ret", config)
    check_cell(cell, ctx.geometry)


@pytest.mark.parametrize("nbh,boundary", [(6, "zero"), (18, "periodic"), (26, "periodic")])
def test_nca_reference_and_fast_paths(nbh, boundary):
    check_nca_paths("ret", None, nbh, boundary)
