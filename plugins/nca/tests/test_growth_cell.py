"""The growing_nca cell and the growth pipeline against the conformance kit and their own semantics."""
from __future__ import annotations

import pytest
import torch

from aa_core.conformance import build_registered, check_cell, check_nca_paths, check_pipeline
from aa_core.run import BuildContext, validate

LEARNED = {"perception": "learned", "channels": 6, "multiplier": 2, "hidden": [8, 8]}


@pytest.mark.parametrize("config", [{}, LEARNED], ids=["sobel", "learned"])
@pytest.mark.parametrize("size", [(4, 3, 3), (5, 4, 1)], ids=["3d", "2d"])
@pytest.mark.parametrize("neighbourhood,boundary", [(26, "zero"), (6, "zero"), (26, "periodic")])
def test_lattice_forward_matches_reference(config, size, neighbourhood, boundary):
    base = {"geometry": {"name": "lattice", "size": list(size), "neighbourhood": neighbourhood, "boundary": boundary}}
    cell, ctx = build_registered("cell", "growing_nca", config, base=base)
    check_cell(cell, ctx.geometry)  # randomises the weights (the zero last layer too) first
    check_nca_paths("growing_nca", config, neighbourhood=neighbourhood, boundary=boundary, size=size)


def test_zero_initialised_update_leaves_the_state_alone():
    cell, ctx = build_registered("cell", "growing_nca", LEARNED)
    grid = torch.randn(2, *ctx.geometry.size, 6)
    assert torch.equal(cell.lattice_forward(grid, ctx.geometry), torch.zeros_like(grid))
    assert cell.layers[0].weight.abs().sum() > 0  # only the last layer starts at zero


def test_sobel_perception_reads_gradients():
    """On a ramp f = 2x + 3y the features of an interior cell are (f, ∂f/∂x, ∂f/∂y) = (f, 2, 3)."""
    base = {"geometry": {"name": "lattice", "size": [6, 6, 1]}}
    cell, ctx = build_registered("cell", "growing_nca", {"channels": 4}, base=base)
    x, y = torch.meshgrid(torch.arange(6.0), torch.arange(6.0), indexing="ij")
    f = (2 * x + 3 * y).view(1, 6, 6, 1, 1).expand(1, 6, 6, 1, 4).contiguous()
    p = cell.perceive(f, ctx.geometry).view(6, 6, 4, 3)
    assert torch.allclose(p[2, 3, 1], torch.tensor([f[0, 2, 3, 0, 0], 2.0, 3.0]))


def _growth_ctx(size=(5, 5, 3), channels=6):
    raw = {"geometry": {"name": "lattice", "size": list(size)},
           "cell": {"name": "growing_nca", **LEARNED, "channels": channels},
           "propagator": {"name": "nca", "fire_rate": 0.5, "alive_threshold": 0.1, "alive_channel": 0},
           "pipeline": {"name": "growth", "steps": [3, 5], "eval_steps": 4}}
    return BuildContext(validate(raw, source="<test>"))


def test_growth_pipeline_conforms():
    check_pipeline(_growth_ctx().build("pipeline"))


def test_growth_draws_T_in_its_range_and_respects_the_light_cone():
    model = _growth_ctx().build("pipeline")
    assert {model.sample_steps() for _ in range(200)} == {3, 4, 5}
    for p in model.parameters():
        torch.nn.init.normal_(p, std=0.3)
    model.eval()
    seed = torch.zeros(1, 75, 6)
    seed[0, 37] = 1.0  # the centre cell of 5×5×3
    with torch.no_grad():
        out = model.grow(seed, 1)
    changed = out[0].abs().sum(-1) > 0
    assert changed[37] and set(changed.nonzero().flatten().tolist()) <= set(
        (model.geometry.hop_distance(37) <= 1).nonzero().flatten().tolist())


# channels × multiplier: below one register block of 8 channels, and 2.5 blocks (full blocks + a tail)
WIDTHS = [(6, 2), (20, 3), (17, 1)]


@pytest.mark.parametrize("channels,multiplier", WIDTHS)
@pytest.mark.parametrize("size,boundary", [((4, 5, 3), "zero"), ((4, 5, 3), "periodic"), ((5, 4, 1), "zero"), ((6, 1, 1), "periodic"),
                                           ((7, 1, 1), "zero"), ((2, 3, 2), "periodic"), ((20, 5, 3), "periodic")])
def test_cpp_perception_and_its_gradients_match_pytorch(size, boundary, channels, multiplier):
    from aa_nca import cell_kernel

    base = {"geometry": {"name": "lattice", "size": list(size), "neighbourhood": 18, "boundary": boundary}}
    cell, ctx = build_registered("cell", "growing_nca", {**LEARNED, "channels": channels, "multiplier": multiplier}, base=base)
    x = torch.randn(2, *size, channels, requires_grad=True)
    if not cell_kernel.available(x):
        pytest.skip("no C++ compiler: the cell runs its PyTorch path")
    results = []
    for use_kernel in (True, False):
        cell.use_kernel = use_kernel
        p = cell.perceive(x, ctx.geometry)
        results.append((p, *torch.autograd.grad((p * torch.linspace(-1, 1, p.numel()).view_as(p)).sum(), [x, cell.kernel])))
    for a, b in zip(*results):  # fp32 sums in another order: the kernel gradient sums over every cell, so its error grows with its scale
        assert torch.allclose(a, b, atol=1e-5 * (1 + float(b.abs().max())))


@pytest.mark.parametrize("channels,multiplier", WIDTHS)
@pytest.mark.parametrize("size,boundary", [((4, 5, 3), "zero"), ((4, 5, 3), "periodic"), ((5, 4, 1), "zero")])
def test_cpp_perception_at_chosen_cells_matches_the_dense_rows(size, boundary, channels, multiplier):
    """The masked-update kernels: rows of chosen cells, and their input and kernel gradients."""
    from aa_nca import cell_kernel

    base = {"geometry": {"name": "lattice", "size": list(size), "boundary": boundary}}
    cell, ctx = build_registered("cell", "growing_nca", {**LEARNED, "channels": channels, "multiplier": multiplier}, base=base)
    x = torch.randn(3, *size, channels, requires_grad=True)
    if not cell_kernel.available(x):
        pytest.skip("no C++ compiler: the cell runs its PyTorch path")
    idx = (torch.rand(x[..., 0].numel(), generator=torch.Generator().manual_seed(0)) < 0.4).nonzero().squeeze(1)
    cell.use_kernel = False
    dense = cell.perceive(x, ctx.geometry).reshape(-1, cell.kernel.shape[0])[idx]
    at = cell_kernel.depthwise_perception_at(x, cell.kernel, ctx.geometry.periodic_axes, idx)
    weights = torch.linspace(-1, 1, dense.numel()).view_as(dense)
    for a, b in zip((at, *torch.autograd.grad((at * weights).sum(), [x, cell.kernel])),
                    (dense, *torch.autograd.grad((dense * weights).sum(), [x, cell.kernel]))):
        assert torch.allclose(a, b, atol=1e-5)
