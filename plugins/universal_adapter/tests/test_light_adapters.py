"""Parameter-light face adapters: no (or face-size independent) parameters, fixed seeded projections."""
from __future__ import annotations

import pytest
import torch

from aa_core import validate
from aa_core.run import build_model, count_params
from aa_universal_adapter.config import FixedProjectionConfig, SharedCellConfig
from aa_universal_adapter.light import build_fixed_projection, build_shared_cell, semi_orthogonal


@pytest.mark.parametrize("dims", [(384, 256), (64, 384), (5, 5)])
def test_semi_orthogonal_preserves_or_projects(dims):
    i, o = dims
    P = semi_orthogonal(i, o, seed=3).double()
    assert P.shape == (i, o)
    gram = P @ P.T if i <= o else P.T @ P
    assert torch.allclose(gram, torch.eye(min(i, o), dtype=torch.float64), atol=1e-5)
    assert torch.equal(P, semi_orthogonal(i, o, seed=3).double()) and not torch.equal(P, semi_orthogonal(i, o, seed=4).double())


def test_fixed_projection_has_no_parameters_unless_gain():
    a = build_fixed_projection(FixedProjectionConfig(), None, in_dim=32, out_dim=64)
    assert count_params(a) == 0 and a.state_dict() == {}
    x = torch.randn(4, 32)
    assert torch.allclose(a(x).norm(dim=1), x.norm(dim=1), atol=1e-4)  # widening: norms preserved
    g = build_fixed_projection(FixedProjectionConfig(gain=True), None, in_dim=32, out_dim=64)
    assert count_params(g) == 1
    g(x).sum().backward()
    assert g.gain.grad is not None


def _spec(size, adapter):
    return validate({"geometry": {"size": size}, "cell": {"name": "mlp", "channels": 8, "hidden": 8},
                     "propagator": {"steps": 2}, "adapter": {"name": adapter}, "pipeline": {"embedding_dim": 32}})


def test_lattice_parameters_do_not_grow_with_the_face():
    small = [count_params(build_model(_spec([4, 4, 4], a))[0]) for a in ("fixed_projection", "shared_cell")]
    large = [count_params(build_model(_spec([16, 16, 4], a))[0]) for a in ("fixed_projection", "shared_cell")]
    assert small == large
    model, ctx = build_model(_spec([4, 4, 4], "fixed_projection"))
    assert count_params(model) == count_params(ctx.cell)  # every parameter is in the cell
    out = model(torch.randn(3, 32))
    assert out.shape == (3, 32)


def test_shared_cell_directions_and_counts():
    w = build_shared_cell(SharedCellConfig(rank=4, channels=8, direction="write"), None, in_dim=32, out_dim=16 * 8)
    r = build_shared_cell(SharedCellConfig(rank=4, channels=8, direction="read"), None, in_dim=16 * 8, out_dim=32)
    assert count_params(w) == 4 * 8 + 8 and count_params(r) == 8 * 4 + 4
    x = torch.randn(2, 32)
    assert r(w(x)).shape == (2, 32)
