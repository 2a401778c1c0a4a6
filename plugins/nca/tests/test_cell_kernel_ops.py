"""The growing_nca cell's C++ perception as torch custom ops (aa_nca.cell_kernel on aa_core.native): opcheck,
gradients of any order, torch.func, vmap, a growth step traced by dynamo as one graph, and the meta-device
memory estimate running the kernels. Skipped (with the reason) where the kernel cannot be built."""
from __future__ import annotations

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from aa_core.conformance import build_registered
from aa_core.run import BuildContext, validate
from aa_nca import cell_kernel as ck

LEARNED = {"perception": "learned", "hidden": [16]}


@pytest.fixture(autouse=True)
def _kernel():
    if ck.library() is None:
        pytest.skip("no C++ compiler: the cell runs its PyTorch path")


def _operands(shape=(2, 4, 5, 3, 6), m=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(*shape, generator=g)
    wT = torch.randn(27, shape[-1] * m, generator=g) / 5
    idx = (torch.rand(x[..., 0].numel(), generator=g) < 0.4).nonzero().squeeze(1)
    return x, wT, idx


def test_every_op_passes_opcheck():
    """Schema, fake implementation (also under dynamic shapes), autograd registration: torch.library.opcheck."""
    x, wT, idx = _operands()
    per = [False, True, False]
    g = torch.randn(*x.shape[:4], wT.shape[1])
    rows = torch.randn(len(idx), wT.shape[1])
    cases = [
        (torch.ops.aa_nca.perceive.default, (x, wT, per)),
        (torch.ops.aa_nca.perceive_input_grad.default, (g, wT, x.shape[-1], per)),
        (torch.ops.aa_nca.perceive_weight_grad.default, (x, g, per)),
        (torch.ops.aa_nca.perceive_at.default, (x, wT, idx, per)),
        (torch.ops.aa_nca.perceive_at_input_grad.default, (rows, wT, idx, list(x.shape), per)),
        (torch.ops.aa_nca.perceive_at_weight_grad.default, (x, rows, idx, per)),
    ]
    for op, args in cases:
        args = tuple(a.clone().requires_grad_() if isinstance(a, torch.Tensor) and a.is_floating_point() else a for a in args)
        torch.library.opcheck(op, args)


def _reference(grid: torch.Tensor, wT: torch.Tensor, periodic) -> torch.Tensor:
    """The perception in plain PyTorch (pad by the boundary rule, 27 shifted products): differentiable to any order."""
    B, X, Y, Z, C = grid.shape
    m = wT.shape[1] // C
    xp = grid.repeat_interleave(m, -1)
    for d, wrap in zip((1, 2, 3), periodic):  # one cell per side: wrap-around or zeros
        n = xp.shape[d]
        lo, hi = (xp.narrow(d, n - 1, 1), xp.narrow(d, 0, 1)) if wrap else (torch.zeros_like(xp.narrow(d, 0, 1)),) * 2
        xp = torch.cat([lo, xp, hi], d)
    out = 0
    for k in range(27):
        dx, dy, dz = k // 9, (k // 3) % 3, k % 3
        out = out + xp[:, dx : dx + X, dy : dy + Y, dz : dz + Z] * wT[k]
    return out


@pytest.mark.parametrize("periodic", [(False, False, False), (True, False, True)])
def test_second_order_gradients_equal_pytorchs(periodic):
    """Each op's backward is made of the others: grad of grad (x ↔ wT mixed terms) equals the PyTorch reference's."""
    x, wT, idx = _operands()
    per = list(periodic)
    pairs = [(lambda a, b: ck.perceive(a, b, per), lambda a, b: _reference(a, b, per)),
             (lambda a, b: ck.perceive_at(a, b, idx, per), lambda a, b: _reference(a, b, per).reshape(-1, b.shape[1])[idx])]
    for kernel, reference in pairs:
        results = []
        for fn in (kernel, reference):
            a, b = x.clone().requires_grad_(), wT.clone().requires_grad_()
            out = fn(a, b)
            v = torch.linspace(-1, 1, out.numel()).view_as(out)
            g_a, g_b = torch.autograd.grad((out * v).sum(), [a, b], create_graph=True)
            second = torch.autograd.grad(g_a.sin().sum() + (g_b ** 2).sum(), [a, b])
            results.append((out.detach(), g_a.detach(), g_b.detach(), *second))
        for got, want in zip(*results):
            assert torch.allclose(got, want, atol=1e-4, rtol=1e-4), float((got - want).abs().max())


def test_torch_func_grad_equals_autograd():
    """torch.func.grad of a loss through the kernels (whole lattice and chosen cells) equals autograd's."""
    x, wT, idx = _operands(m=2)
    per = [True, True, False]

    def loss(w, grid):
        return (ck.perceive(grid, w, per) ** 2).mean() + ck.perceive_at(grid, w, idx, per).tanh().sum()

    gw, gx = torch.func.grad(loss, argnums=(0, 1))(wT, x)
    w_leaf, x_leaf = wT.clone().requires_grad_(), x.clone().requires_grad_()
    aw, ax = torch.autograd.grad(loss(w_leaf, x_leaf), [w_leaf, x_leaf])
    assert torch.allclose(gw, aw, atol=1e-6) and torch.allclose(gx, ax, atol=1e-6)
    # per-sample gradients: vmap over torch.func.grad (the kernels' vmap rules and the autograd.Function's)
    per_sample = torch.vmap(torch.func.grad(lambda w, grid: (ck.perceive(grid[None], w, per) ** 2).sum()), in_dims=(None, 0))(wT, x)
    looped = torch.stack([torch.func.grad(lambda w, grid: (ck.perceive(grid[None], w, per) ** 2).sum())(wT, s) for s in x])
    assert torch.allclose(per_sample, looped, atol=1e-5)


def test_vmap_equals_a_loop():
    x, wT, idx = _operands()
    per = [False, False, True]
    xs = torch.stack([x, 2 * x, -x])
    assert torch.equal(torch.vmap(lambda g: ck.perceive(g, wT, per))(xs), torch.stack([ck.perceive(g, wT, per) for g in xs]))
    ws = torch.stack([wT, wT.flip(0)])
    assert torch.equal(torch.vmap(lambda w: ck.perceive_at(x, w, idx, per))(ws), torch.stack([ck.perceive_at(x, w, idx, per) for w in ws]))


def _growth(perception: str = "learned", fire: float = 0.5, alive: float | None = 0.1):
    raw = {"geometry": {"name": "lattice", "size": [4, 4, 5]},
           "cell": {"name": "growing_nca", "channels": 8, "perception": perception, "multiplier": 3, "hidden": [16]},
           "propagator": {"name": "nca", "fire_rate": fire, "alive_threshold": alive, "alive_channel": 0},
           "pipeline": {"name": "growth", "steps": [2, 3]}}
    if alive is None:
        del raw["propagator"]["alive_threshold"]
    torch.manual_seed(0)
    model = BuildContext(validate(raw, source="<test>")).build("pipeline")
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return model


@pytest.mark.parametrize("perception, fire, alive", [("learned", 0.5, 0.1), ("sobel", 0.5, 0.1), ("learned", 1.0, None)])
def test_dynamo_traces_a_growth_step_without_a_graph_break(perception, fire, alive):
    """A training step of the growth pipeline (growing_nca cell, nca propagator: fire mask, alive masking, the
    masked update's kernels; or the dense kernel) is one graph under torch._dynamo.explain: the perception
    kernels are nodes in it, no break. (The masked update's row ids come from nonzero: ``train.compile``
    turns on capture_dynamic_output_shape_ops for it, as here.)"""
    model = _growth(perception, fire, alive).train()
    grid = torch.rand(2, 4, 4, 5, 8, requires_grad=True)
    torch._dynamo.reset()
    try:
        with torch._dynamo.config.patch(capture_dynamic_output_shape_ops=True):
            e = torch._dynamo.explain(model.step_grid)(grid, 0)
    finally:
        torch._dynamo.reset()
    assert e.graph_break_count == 0 and e.graph_count == 1, [r.reason for r in e.break_reasons]
    ops = {str(n.target) for gm in e.graphs for n in gm.graph.nodes if n.op == "call_function"}
    assert ("aa_nca.perceive_at.default" if alive is not None else "aa_nca.perceive.default") in ops, ops


def test_a_compiled_growth_step_equals_eager():
    """torch.compile (aot_eager: the fake implementations and the registered autograd formulas, no codegen) of
    three growth steps and the backward: the loss and every gradient equal eager's for the same fire masks."""
    model = _growth().train()
    grid = torch.rand(2, 4, 4, 5, 8)

    def loss_fn(g):
        return (model.grow_grid(g, 3) ** 2).mean()

    results = []
    torch._dynamo.reset()
    try:
        with torch._dynamo.config.patch(capture_dynamic_output_shape_ops=True):
            for fn in (torch.compile(loss_fn, backend="aot_eager"), loss_fn):
                torch.manual_seed(5)
                model.zero_grad()
                loss = fn(grid)
                loss.backward()
                results.append((loss.detach(), *(p.grad.clone() for p in model.parameters())))
    finally:
        torch._dynamo.reset()
    for a, b in zip(*results):
        assert torch.allclose(a, b, atol=1e-6, rtol=1e-5)


class _Ops(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.seen: set[str] = set()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.seen.add(str(func))
        return func(*args, **(kwargs or {}))


def test_the_meta_memory_estimate_traces_the_kernels():
    """aa check's training estimate runs the model on the meta device: the growth pipeline's trace (the voxel
    model's shapes) goes through the kernels' fake implementations (before, nonzero and the raw kernel stopped
    it and a per-cell formula stood in)."""
    from aa_core.run import RUNTIME_BYTES, build_model, training_bytes

    raw = {"geometry": {"name": "lattice", "size": [8, 8, 27]},
           "cell": {"name": "growing_nca", "channels": 20, "perception": "learned", "multiplier": 3, "hidden": [64, 64]},
           "propagator": {"name": "nca", "fire_rate": 0.5, "alive_threshold": 0.1, "alive_channel": 7},
           "pipeline": {"name": "growth", "steps": [4, 4]}}
    model, ctx = build_model(validate(raw, source="<test>"), meta=True)
    with _Ops() as mode:
        need = training_bytes(model, ctx, 2)
    assert need > RUNTIME_BYTES
    assert "aa_nca.perceive_at.default" in mode.seen, sorted(mode.seen)


def test_cell_gradients_through_the_ops_equal_the_pytorch_path():
    """The cell's perception through the ops vs its grouped-convolution path (outputs and both gradients)."""
    base = {"geometry": {"name": "lattice", "size": [4, 5, 3], "neighbourhood": 18, "boundary": "periodic"}}
    cell, ctx = build_registered("cell", "growing_nca", {**LEARNED, "channels": 6, "multiplier": 2}, base=base)
    x = torch.randn(2, 4, 5, 3, 6, requires_grad=True)
    results = []
    for use_kernel in (True, False):
        cell.use_kernel = use_kernel
        p = cell.perceive(x, ctx.geometry)
        results.append((p, *torch.autograd.grad((p * torch.linspace(-1, 1, p.numel()).view_as(p)).sum(), [x, cell.kernel])))
    for a, b in zip(*results):
        assert torch.allclose(a, b, atol=1e-5)


class _Seen(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.ops: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.ops.append(str(func))
        return func(*args, **(kwargs or {}))


def test_the_direct_call_equals_the_op_and_a_dispatch_mode_still_sees_the_op():
    """Eager calls on plain CPU tensors skip the dispatcher; the result is the op's, and anything that watches
    dispatch (a FLOP counter, a fake or meta trace) still gets the op itself."""
    x, wT, _ = _operands()
    direct = ck.perceive(x, wT, [False, True, False])
    assert torch.equal(direct, torch.ops.aa_nca.perceive(x, wT, [False, True, False]))
    with _Seen() as seen:
        ck.perceive(x, wT, [False, True, False])
    assert any("aa_nca.perceive" in op for op in seen.ops)
