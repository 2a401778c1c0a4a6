"""Scan orders, the mamba and schedule propagators, spec validation and the hybrid pipeline."""
from pathlib import Path

import pytest
import torch

from aa_core import UserError
from aa_core.conformance import build_registered, check_component
from aa_core.conformance import lattice as core_lattice
from aa_core.run import build_model, load_spec, validate
from aa_mamba.config import MambaPropagatorConfig
from aa_mamba.orders import hilbert_2d, hilbert_order, inverse, scan_orders
from aa_mamba.propagator import MambaPropagator, propagator_param_count
from aa_mamba.schedule import SchedulePropagator

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "hybrid_nca_mamba.toml"
SIZES = [(4, 4, 3), (8, 8, 8), (5, 7, 3), (15, 15, 11), (1, 1, 1), (2, 9, 4), (16, 16, 4)]


def coords(ids, size):
    X, Y, Z = size
    return torch.stack([ids // (Y * Z), (ids // Z) % Y, ids % Z], -1)


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("order", ["raster", "bidirectional", "axes", "hilbert"])
def test_orders_are_invertible_bijections(order, size):
    n = size[0] * size[1] * size[2]
    perms = scan_orders(order, size)
    assert len(perms) == {"raster": 1, "bidirectional": 2, "axes": 6, "hilbert": 2}[order]
    x = torch.randn(2, n, 3)
    for p in perms:
        assert torch.equal(p.sort().values, torch.arange(n))
        inv = inverse(p)
        assert torch.equal(inv[p], torch.arange(n)) and torch.equal(p[inv], torch.arange(n))
        assert torch.equal(x[:, p][:, inv], x)


@pytest.mark.parametrize("size", SIZES + [(64, 64, 8), (33, 17, 6)])
def test_hilbert_steps_between_neighbours(size):
    p = hilbert_order(size)
    steps = (coords(p[1:], size) - coords(p[:-1], size)).abs()
    assert steps.max() <= 1 if len(p) > 1 else True  # never a jump: at worst a diagonal step
    non_adjacent = (steps.sum(-1) != 1).sum().item()
    if all(s % 2 == 0 for s in sorted(size)[1:]) or len(p) == 1:
        assert non_adjacent == 0
    else:
        assert non_adjacent <= max(2, len(p) // 50)


def test_hilbert_2d_locality():
    """Unlike a raster, the curve keeps 2D blocks together: any 16 consecutive cells span a small box."""
    pts = torch.tensor(hilbert_2d(32, 32))
    assert len({tuple(p) for p in pts.tolist()}) == 1024
    spans = torch.stack([pts[i : i + 16].amax(0) - pts[i : i + 16].amin(0) for i in range(0, 1024 - 16, 16)])
    assert spans.max() <= 4  # a raster row would span 15


def lattice(size):
    return core_lattice(size)


@pytest.mark.parametrize("cfg", [dict(), dict(order="axes", layers=2), dict(order="hilbert", tie_directions=True), dict(order="raster", d_state=4, expand=1, d_conv=2)])
def test_param_formula_and_shapes(cfg):
    config = MambaPropagatorConfig(**cfg)
    prop = MambaPropagator(config, lattice((4, 4, 3)), channels=8)
    assert sum(p.numel() for p in prop.parameters()) == propagator_param_count(config, 8)
    x = torch.randn(2, 48, 8)
    assert prop(x).shape == x.shape


def test_global_reach_flat_and_hierarchical():
    """A change at the first cell reaches the far corner in one pass; raster alone stays causal."""
    torch.manual_seed(0)
    for hier in ("off", "on"):
        prop = MambaPropagator(MambaPropagatorConfig(hierarchical=hier, chunk=[2, 2, 2]), lattice((6, 6, 4)), channels=4).double().eval()
        x = torch.randn(1, 144, 4, dtype=torch.float64)
        x2 = x.clone()
        x2[:, 0] += 1.0
        with torch.no_grad():
            assert (prop(x2) - prop(x))[:, -1].abs().max() > 1e-10  # float64 noise is ~1e-16
    causal = MambaPropagator(MambaPropagatorConfig(order="raster", hierarchical="off"), lattice((4, 4, 3)), channels=4).eval()
    x = torch.randn(1, 48, 4)
    x2 = x.clone()
    x2[:, 20] += 1.0
    with torch.no_grad():
        diff = (causal(x2) - causal(x)).abs().amax((0, 2))
    assert diff[:20].max() == 0 and diff[20:].max() > 0


def test_hierarchical_auto_and_partial_chunks():
    big = MambaPropagator(MambaPropagatorConfig(hierarchical_above=100), lattice((10, 9, 5)), channels=4)
    small = MambaPropagator(MambaPropagatorConfig(hierarchical_above=1000), lattice((10, 9, 5)), channels=4)
    assert big.hierarchical and not small.hierarchical
    assert big.grid == (2, 2, 2) and big.chunk == (8, 8, 4)
    small.load_state_dict(big.state_dict(), strict=True)  # same weights in both modes
    x = torch.randn(2, 450, 4, requires_grad=True)
    y = big(x)
    y.square().mean().backward()
    assert y.shape == x.shape and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    # chunk means count real cells only: a constant lattice has constant means
    assert torch.allclose(big.chunk_weight.sum(1), torch.ones(8, 1))


@pytest.mark.parametrize("name,config", [("mamba", {"hierarchical": "on", "chunk": [2, 2, 2]}), ("schedule", {"steps": ["nca:1", "mamba:2", "nca:1"], "mamba": {"order": "hilbert"}}), ("schedule", {"steps": ["nca:2"]})])
def test_conformance_variants(name, config):
    obj, ctx = build_registered("propagator", name, config)
    check_component("propagator", obj, ctx)


def test_schedule_structure():
    obj, ctx = build_registered("propagator", "schedule", {"steps": ["nca:3", "mamba", "nca:1", "mamba:2"], "tie_mamba": False})
    assert isinstance(obj, SchedulePropagator) and not obj.light_cone
    assert [k for k, _, _ in obj.plan] == ["nca", "mamba", "nca", "mamba"]
    assert len([s for s in obj.stages if isinstance(s, MambaPropagator)]) == 2
    assert obj.stages[0].cell is obj.stages[2].cell is ctx.cell  # one rule for every local step
    assert obj.steps == 4
    tied, _ = build_registered("propagator", "schedule", {"steps": ["mamba", "nca:1", "mamba"], "tie_mamba": True})
    assert len(tied.stages) == 2 and tied.plan[0][2] == tied.plan[2][2]
    local, _ = build_registered("propagator", "schedule", {"steps": ["nca:2", "nca:3"]})
    assert local.light_cone and local.steps == 5


def test_schedule_step_at_replays_forward_one_update_at_a_time():
    obj, _ = build_registered("propagator", "schedule", {"steps": ["nca:2", "mamba:2", "nca:1"], "tie_mamba": False})
    obj.eval()
    assert obj.period == 5 and [k for k, _ in obj.updates] == ["nca", "nca", "mamba", "mamba", "nca"]
    torch.manual_seed(0)
    state = torch.randn(2, obj.stages[0].geometry.num_cells, obj.cell.channels)
    for p in obj.parameters():  # non-zero mamba output so a skipped or repeated pass shows
        torch.nn.init.normal_(p, std=0.1)
    with torch.no_grad():
        stepped = state
        for t in range(obj.period):
            stepped = obj.step_at(stepped, t)
        assert torch.allclose(stepped, obj(state), atol=1e-5)
        assert torch.allclose(obj.step_at(state, obj.period + 2), obj.step_at(state, 2))  # cycles
        assert not torch.allclose(obj.step_at(state, 2), obj.step_at(state, 0))


class SkipsTheGlobalPass(SchedulePropagator):
    def step_at(self, state, t):
        return state if self.updates[t % self.period][0] == "mamba" else super().step_at(state, t)


def test_conformance_kit_catches_a_step_at_that_skips_the_global_pass():
    from aa_core.protocols import ScheduledPropagator

    obj, ctx = build_registered("propagator", "schedule", {"steps": ["nca:1", "mamba", "nca:1"]})
    assert isinstance(obj, ScheduledPropagator)
    check_component("propagator", obj, ctx)
    obj.__class__ = SkipsTheGlobalPass
    with pytest.raises(AssertionError, match="calls of step_at disagree"):
        check_component("propagator", obj, ctx)


def spec_problems(propagator):
    raw = {"geometry": {"size": [4, 4, 3]}, "cell": {"channels": 6, "hidden": 12}, "propagator": propagator}
    with pytest.raises(UserError) as err:
        validate(raw)
    return {p.path: p.message for p in err.value.problems}


def test_schedule_validation_names_key_paths():
    probs = spec_problems({"name": "schedule", "steps": ["nca:4", "mambo", "nca:0"], "nca": {"fire_rat": 0.5, "steps": 3}, "mamba": {"order": "spiral", "d_state": 0}})
    assert "propagator.steps[1]" in probs and "propagator.steps[2]" in probs
    assert "propagator.nca.fire_rat" in probs and "did you mean 'fire_rate'" in probs["propagator.nca.fire_rat"]
    assert "propagator.nca.steps" in probs
    assert "propagator.mamba.order" in probs and "propagator.mamba.d_state" in probs
    assert "propagator.steps" in spec_problems({"name": "schedule", "steps": []})
    assert "propagator.chunk" in spec_problems({"name": "mamba", "chunk": [8, 8]})
    assert "propagator.nca" in spec_problems({"name": "schedule", "nca": 3})


def test_example_spec_forward_backward():
    spec = load_spec(EXAMPLE, ["pipeline.embedding_dim=32", "geometry.size=[6,6,4]"])
    model, ctx = build_model(spec)
    assert isinstance(ctx.propagator, SchedulePropagator)
    x = torch.randn(3, 32)
    y = model(x)
    assert y.shape == (3, 32)
    (1 - torch.cosine_similarity(y, torch.randn(3, 32))).mean().backward()
    mamba = next(s for s in ctx.propagator.stages if isinstance(s, MambaPropagator))
    for p in list(ctx.cell.parameters()) + list(mamba.parameters()):
        assert p.grad is not None and torch.isfinite(p.grad).all()
    assert mamba.blocks[0][0].A_log.grad.abs().sum() > 0 and ctx.cell.fc1.weight.grad.abs().sum() > 0


def test_configs_module_is_a_deprecated_alias():
    import importlib
    import sys

    sys.modules.pop("aa_mamba.configs", None)
    with pytest.warns(DeprecationWarning, match="aa_mamba.config"):
        old = importlib.import_module("aa_mamba.configs")
    from aa_mamba.config import MambaPropagatorConfig as New

    assert old.MambaPropagatorConfig is New
