"""Property tests of the lattice engine: geometry, light cone, equivariance, fast == reference.

Tolerance: the fast paths (oneDNN conv, chunked slabs, folded depthwise) must agree with the
reference gather path to ``TOL`` · max(1, |reference|) in fp32 (observed ~5e-7).
"""
from __future__ import annotations

import collections

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aa_core.builtins.configs import LatticeConfig, MLPCellConfig, NCAConfig
from aa_core.builtins.mlp import MLPCell
from aa_core.conformance import strategies as S
from aa_core.lattice.depthwise import DepthwiseNCACell
from aa_core.lattice.geometry import Lattice
from aa_core.lattice.nca import NCAPropagator

TOL = 1e-5
FAST = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def lattice(size, nb=26, boundary="zero") -> Lattice:
    return Lattice(LatticeConfig(size=list(size), neighbourhood=nb, boundary=boundary))


def mlp(g, channels, hidden=16, seed=0):
    torch.manual_seed(seed)
    return MLPCell(MLPCellConfig(channels=channels, hidden=hidden), g).eval()


def close(a, b, tol=TOL):
    scale = max(1.0, b.abs().max().item())
    err = (a - b).abs().max().item()
    assert err <= tol * scale, f"max abs diff {err:.3g} > {tol}·{scale:.3g}"


def bfs_hops(g: Lattice, cell: int) -> torch.Tensor:
    """Hop distance by breadth-first search over neighbour_index (ground truth for the metric)."""
    idx = g.neighbour_index()
    N = g.num_cells
    dist = torch.full((N,), -1, dtype=torch.long)
    dist[cell] = 0
    queue = collections.deque([cell])
    while queue:
        u = queue.popleft()
        for v in idx[u].tolist():  # neighbourhoods are symmetric, so in- and out-neighbours agree
            if v < N and dist[v] < 0:
                dist[v] = dist[u] + 1
                queue.append(v)
    return dist


@FAST
@given(size=S.sizes(6, 120), nb=S.neighbourhoods, boundary=S.boundaries, c=S.channels, b=S.batches)
def test_shapes(size, nb, boundary, c, b):
    g = lattice(size, nb, boundary)
    N, K = g.num_cells, g.k
    assert K == nb + 1 and g.offsets[g.center_index] == (0, 0, 0)
    idx = g.neighbour_index()
    assert idx.shape == (N, K) and int(idx.max()) <= N
    s = torch.randn(b, N, c)
    assert g.gather(s).shape == (b, N, K, c)
    grid = g.to_grid(s)
    assert grid.shape == (b, *g.size, c) and torch.equal(g.to_cells(grid), s)
    assert g.pad(grid.permute(0, 4, 1, 2, 3)).shape == (b, c, *(v + 2 for v in g.size))
    assert int(g.stencil_mask().sum()) == K
    out = NCAPropagator(NCAConfig(steps=2), g, mlp(g, c)).eval()(s)
    assert out.shape == s.shape and out.dtype == s.dtype


@FAST
@given(size=S.sizes(6, 120), nb=S.neighbourhoods, boundary=S.boundaries)
def test_neighbour_index_matches_coordinates(size, nb, boundary):
    g = lattice(size, nb, boundary)
    X, Y, Z = g.size
    coords, idx = g.coords(), g.neighbour_index()
    for cell in {0, g.num_cells // 2, g.num_cells - 1}:
        x, y, z = coords[cell].tolist()
        for k, (dx, dy, dz) in enumerate(g.offsets):
            i, j, m = x + dx, y + dy, z + dz
            if boundary == "periodic":
                expect = ((i % X) * Y + j % Y) * Z + m % Z
            elif 0 <= i < X and 0 <= j < Y and 0 <= m < Z:
                expect = (i * Y + j) * Z + m
            else:
                expect = g.num_cells
            assert idx[cell, k] == expect


@FAST
@given(size=S.sizes(6, 120), nb=S.neighbourhoods, boundary=S.boundaries, data=st.data())
def test_hop_distance_is_the_graph_metric(size, nb, boundary, data):
    g = lattice(size, nb, boundary)
    cell = data.draw(st.integers(0, g.num_cells - 1))
    assert torch.equal(g.hop_distance(cell), bfs_hops(g, cell))


@FAST
@given(size=S.sizes(6, 150), nb=S.neighbourhoods, boundary=S.boundaries, steps=st.integers(1, 3), data=st.data())
def test_light_cone(size, nb, boundary, steps, data):
    """After T steps a perturbation reaches only cells within T hops; after 1 step exactly the neighbourhood."""
    g = lattice(size, nb, boundary)
    cell = data.draw(st.integers(0, g.num_cells - 1))
    c = 3
    torch.manual_seed(1)
    s = torch.randn(1, g.num_cells, c)
    s2 = s.clone()
    s2[0, cell] += torch.randn(c)
    dist = g.hop_distance(cell)
    for T in (1, steps):
        prop = NCAPropagator(NCAConfig(steps=T), g, mlp(g, c, hidden=32)).eval()
        with torch.no_grad():
            reach = (prop(s2) - prop(s)).abs().amax(dim=(0, 2)) > 0
        assert not (reach & (dist > T)).any()
        if T == 1:
            assert torch.equal(reach, dist <= 1)


@FAST
@given(size=S.sizes(5, 100), nb=S.neighbourhoods, data=st.data())
def test_translation_equivariance_periodic(size, nb, data):
    g = lattice(size, nb, "periodic")
    shift = tuple(data.draw(st.integers(0, v - 1)) for v in g.size)
    prop = NCAPropagator(NCAConfig(steps=2), g, mlp(g, 4)).eval()
    s = torch.randn(2, g.num_cells, 4)

    def roll(state):
        return g.to_cells(torch.roll(g.to_grid(state), shift, dims=(1, 2, 3)))

    with torch.no_grad():
        close(prop(roll(s)), roll(prop(s)))


@FAST
@given(size=S.sizes(6, 150), nb=S.neighbourhoods, boundary=S.boundaries, c=S.channels, b=S.batches,
       depthwise=st.booleans(), planes=st.one_of(st.none(), st.integers(1, 4)), alive=st.booleans())
def test_fast_equals_reference(size, nb, boundary, c, b, depthwise, planes, alive):
    """Fast path, chunked slabs (any thickness) and the reference gather path agree, with and without grad."""
    g = lattice(size, nb, boundary)
    torch.manual_seed(0)
    cell = (DepthwiseNCACell(g, channels=c, hidden=12) if depthwise else mlp(g, c)).eval()
    cfg = dict(steps=3, alive_threshold=0.0 if alive else None)
    s = torch.randn(b, g.num_cells, c)
    ref = NCAPropagator(NCAConfig(path="reference", **cfg), g, cell).eval()
    fast = NCAPropagator(NCAConfig(path="fast", chunk_planes=planes, **cfg), g, cell).eval()
    ref_chunked = NCAPropagator(NCAConfig(path="reference", chunk_planes=planes or 2, **cfg), g, cell).eval()
    with torch.no_grad():
        r = ref(s)
        close(fast(s), r)
        close(ref_chunked(s), r)  # chunking works for cells without a lattice form too
    close(fast(s).detach(), r)  # grad-enabled call: whole lattice, autograd-friendly ops


@FAST
@given(size=S.sizes(5, 100), nb=S.neighbourhoods, boundary=S.boundaries, fire=st.floats(0.1, 0.9))
def test_eval_is_deterministic(size, nb, boundary, fire):
    g = lattice(size, nb, boundary)
    prop = NCAPropagator(NCAConfig(steps=3, fire_rate=fire, alive_threshold=-0.5), g, mlp(g, 3)).eval()
    full = NCAPropagator(NCAConfig(steps=3, alive_threshold=-0.5), g, prop.cell).eval()
    s = torch.randn(2, g.num_cells, 3)
    with torch.no_grad():
        a = prop(s)
        assert torch.equal(a, prop(s))
        assert torch.equal(a, full(s))  # eval ignores the fire rate: every cell updates


# ---- unit tests -------------------------------------------------------------------------
def test_scale_factor_rounds_half_up():
    broca = [333, 333, 166]
    assert Lattice(LatticeConfig(size=broca, scale_factor=0.1)).size == (33, 33, 17)  # 33.3, 16.6
    assert Lattice(LatticeConfig(size=broca, scale_factor=0.5)).size == (167, 167, 83)  # 166.5 → 167
    assert Lattice(LatticeConfig(size=[5, 10, 1], scale_factor=0.5)).size == (3, 5, 1)  # 2.5 → 3, 0.5 → 1
    assert Lattice(LatticeConfig(size=[10, 7, 3], scale_factor=0.35)).size == (4, 2, 1)  # 3.5 → 4, 2.45, 1.05
    assert Lattice(LatticeConfig(size=broca)).size == (333, 333, 166)


def test_faces():
    g = Lattice(LatticeConfig(size=[4, 3, 2], input_face="x0", output_face="z1"))
    assert g.face_shape("x0") == (3, 2) and len(g.input_cells) == 6
    assert g.face_shape("z1") == (4, 3) and len(g.output_cells) == 12
    assert (g.coords()[g.input_cells, 0] == 0).all() and (g.coords()[g.output_cells, 2] == 1).all()
    assert g.input_width(5) == 30 and g.output_width(5) == 60
    state = torch.zeros(2, g.num_cells, 5)
    values = torch.randn(2, 30)
    written = g.write_face(state, values)
    assert torch.equal(g.read_face(written, "x0"), values)
    assert torch.count_nonzero(written) == torch.count_nonzero(values)  # nothing written off the face


def test_neighbourhood_offsets():
    for nb, k in ((6, 7), (18, 19), (26, 27)):
        g = lattice((3, 3, 3), nb)
        assert g.k == k and len(set(g.offsets)) == k
        assert all(abs(a) + abs(b) + abs(c) <= {6: 1, 18: 2, 26: 3}[nb] for a, b, c in g.offsets)


def test_fire_rate_in_training():
    g = lattice((6, 6, 6))
    cell = mlp(g, 4)
    s = torch.randn(1, g.num_cells, 4)
    with torch.no_grad():
        assert torch.equal(NCAPropagator(NCAConfig(steps=2, fire_rate=0.0), g, cell).train()(s), s)
        one = NCAPropagator(NCAConfig(steps=1, fire_rate=0.5), g, cell).train()(s)
    fired = ((one - s).abs().amax(-1) > 0).float().mean().item()
    assert 0.3 < fired < 0.7


def test_alive_masking_zeroes_dead_regions():
    g = lattice((8, 8, 8))
    cell = mlp(g, 4)
    s = torch.zeros(1, g.num_cells, 4)
    s[0, 0, 0] = 1.0  # one alive cell in the corner
    prop = NCAPropagator(NCAConfig(steps=1, alive_threshold=0.1), g, cell).eval()
    with torch.no_grad():
        out = prop(s)
    far = g.hop_distance(0) > 1
    assert out[0, far].abs().max() == 0


def test_gradient_checkpointing_same_gradients():
    g = lattice((5, 4, 3))
    s = torch.randn(2, g.num_cells, 4)
    grads = []
    for ckpt in (False, True):
        cell = mlp(g, 4)
        prop = NCAPropagator(NCAConfig(steps=3, gradient_checkpointing=ckpt), g, cell).train()
        prop(s).square().sum().backward()
        grads.append([p.grad.clone() for p in cell.parameters()])
    for a, b in zip(*grads):
        close(a, b)


@pytest.mark.parametrize("depthwise", [False, True])
def test_training_gradients_match_reference(depthwise):
    g = lattice((4, 5, 3), 18, "periodic")
    s = torch.randn(2, g.num_cells, 3)
    grads = {}
    for path in ("fast", "reference"):
        torch.manual_seed(3)
        cell = DepthwiseNCACell(g, channels=3, hidden=8) if depthwise else mlp(g, 3)
        NCAPropagator(NCAConfig(steps=2, path=path), g, cell).train()(s).square().sum().backward()
        grads[path] = [p.grad for p in cell.parameters()]
    for a, b in zip(grads["fast"], grads["reference"]):
        close(a, b, 1e-4)


def test_auto_chunking_for_huge_no_grad_calls():
    g = Lattice(LatticeConfig(size=[333, 333, 166]))
    prop = NCAPropagator(NCAConfig(steps=1), g, mlp(lattice((2, 2, 2)), 8))
    s = torch.empty(1, g.num_cells, 8, device="meta")
    with torch.no_grad():
        planes = prop.chunk_planes_for(s)
    assert planes is not None and 1 <= planes < 333
    assert prop.chunk_planes_for(s) is None  # grad enabled: never chunked
    small = lattice((8, 8, 8))
    with torch.no_grad():
        assert NCAPropagator(NCAConfig(steps=1), small, mlp(small, 8)).chunk_planes_for(torch.empty(1, 512, 8)) is None
        assert NCAPropagator(NCAConfig(steps=1, chunk_planes=2), small, mlp(small, 8)).chunk_planes_for(torch.empty(1, 512, 8)) == 2


def test_float64_falls_back_and_matches():
    g = lattice((4, 4, 4), 6, "periodic")
    cell = mlp(g, 3).double()
    s = torch.randn(2, g.num_cells, 3, dtype=torch.float64)
    with torch.no_grad():
        a = NCAPropagator(NCAConfig(steps=2), g, cell).eval()(s)
        b = NCAPropagator(NCAConfig(steps=2, path="reference"), g, cell).eval()(s)
    assert a.dtype == torch.float64
    close(a, b, 1e-10)


@pytest.mark.slow
def test_fast_equals_reference_32_cubed():
    g = lattice((32, 32, 32))
    cell = mlp(g, 16, hidden=64)
    s = torch.randn(2, g.num_cells, 16) * 0.1
    with torch.no_grad():
        close(NCAPropagator(NCAConfig(steps=4), g, cell).eval()(s),
              NCAPropagator(NCAConfig(steps=4, path="reference"), g, cell).eval()(s))


@pytest.mark.slow
def test_broca_single_step_bounded_memory():
    """333×333×166, C=8, one no-grad step (auto-chunked) with peak RSS under 3 GiB, in a child process."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    bench = Path(__file__).resolve().parents[1] / "bench" / "lattice.py"
    out = subprocess.run([sys.executable, str(bench), "--broca-child", "1.0"], capture_output=True, text=True, check=True)
    r = json.loads(out.stdout.strip().splitlines()[-1])
    assert r["cells"] == 333 * 333 * 166
    assert r["peak_rss_gib"] < 3.0
    assert r["chunk_planes"] is not None


@pytest.mark.parametrize("size,boundary", [((5, 6, 7), "zero"), ((5, 6, 7), "periodic"), ((9, 9, 1), "zero"), ((11, 1, 1), "periodic")])
def test_alive_neighbourhood_max_equals_max_pool(size, boundary):
    """The alive mask's shifted-maxima 3×3×3 max equals max_pool3d on the boundary-padded grid."""
    import torch.nn.functional as F

    g = Lattice(LatticeConfig(size=list(size), boundary=boundary))
    x = torch.randn(3, *size, 1, generator=torch.Generator().manual_seed(0))
    ref = F.max_pool3d(g.pad(x.permute(0, 4, 1, 2, 3)), 3, stride=1).permute(0, 2, 3, 4, 1)
    assert torch.equal(NCAPropagator._neighbourhood_max(x, g), ref)


@FAST
@given(size=S.sizes(4, 80), nb=S.neighbourhoods, boundary=S.boundaries, c=st.integers(1, 9), bias=st.booleans(),
       b=st.integers(1, 3))
def test_depthwise_stencil_gradients_equal_conv3d(size, nb, boundary, c, bias, b):
    """stencil_conv's depthwise path (own input gradient) has F.conv3d's output and gradients."""
    import torch.nn.functional as F

    from aa_core.plugin import stencil_conv

    g = lattice(size, nb, boundary)
    gen = torch.Generator().manual_seed(c)
    grid = torch.randn(b, *size, c, generator=gen, requires_grad=True)
    w = torch.randn(c, 1, 3, 3, 3, generator=gen, requires_grad=True)
    bb = torch.randn(c, generator=gen, requires_grad=True) if bias else None
    up = torch.randn(b, *size, c, generator=gen)
    out = stencil_conv(grid, w, bb, g, groups=c)
    grads = torch.autograd.grad((out * up).sum(), [grid, w] + ([bb] if bias else []))
    w_ref = w * g.stencil_mask().to(w)
    ref = F.conv3d(g.pad(grid.permute(0, 4, 1, 2, 3)), w_ref, bb, groups=c).permute(0, 2, 3, 4, 1)
    grads_ref = torch.autograd.grad((ref * up).sum(), [grid, w] + ([bb] if bias else []))
    close(out, ref)
    for a, r in zip(grads, grads_ref):
        close(a, r, 1e-4)


class GatheredOnly(torch.nn.Module):
    """A cell with only the Cell contract's ``forward`` (the built-in mlp's maths, no lattice form)."""

    def __init__(self, inner: MLPCell):
        super().__init__()
        self.inner = inner
        self.channels = inner.channels

    def forward(self, neighbourhood: torch.Tensor) -> torch.Tensor:
        return self.inner(neighbourhood)


@FAST
@given(size=S.sizes(4, 80), nb=S.neighbourhoods, boundary=S.boundaries, c=st.integers(2, 5), b=S.batches,
       alive=st.booleans(), fire=st.sampled_from([0.3, 0.5, 1.0]))
def test_cells_without_a_lattice_form_update_the_selected_rows_only(size, nb, boundary, c, b, alive, fire):
    """Training with fire (and alive) masks: the fast path gathers the neighbourhoods of the cells
    that fire near an alive cell only; states and gradients equal the dense reference's."""
    g = lattice(size, nb, boundary)
    s = torch.randn(b, g.num_cells, c, generator=torch.Generator().manual_seed(b))
    out, grads = {}, {}
    for path in ("fast", "reference"):
        cell = GatheredOnly(mlp(g, c, hidden=6, seed=1)).train()
        cfg = NCAConfig(steps=2, path=path, fire_rate=fire, alive_threshold=0.5 if alive else None)
        prop = NCAPropagator(cfg, g, cell).train()
        x = s.clone().requires_grad_()
        torch.manual_seed(7)
        out[path] = prop(x)
        out[path].square().sum().backward()
        grads[path] = [x.grad] + [p.grad for p in cell.parameters()]
    close(out["fast"], out["reference"])
    for a, r in zip(grads["fast"], grads["reference"]):
        close(a, r, 1e-4)
