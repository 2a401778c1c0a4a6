"""The fused C++ depthwise kernel equals the reference Cell contract, and falls back cleanly.

Tolerance as for the other fast paths: |fused - reference| ≤ 1e-5 · max(1, |reference|) in fp32.
Tests that need the compiled kernel are skipped (with the build error as reason) when it cannot
be built here, e.g. without a C++ compiler.
"""
from __future__ import annotations

import pytest
import torch

from aa_core.builtins.configs import LatticeConfig, NCAConfig
from aa_core.lattice import _fused
from aa_core.lattice.depthwise import DepthwiseNCACell
from aa_core.lattice.geometry import Lattice
from aa_core.lattice.nca import NCAPropagator


def _needs_kernel():
    if _fused.load() is None:
        pytest.skip(f"fused depthwise kernel unavailable here: {_fused.error()}")


def _reference(cell, g, grid):
    return g.to_grid(cell(g.gather(g.to_cells(grid))).contiguous())


def _close(a, b):
    tol = 1e-5 * max(1.0, float(b.abs().max()))
    assert float((a - b).abs().max()) <= tol


@pytest.mark.parametrize(
    "size, neighbourhood, boundary, channels, multiplier, hidden",
    [
        ((5, 6, 7), 26, "zero", 16, 4, 64),
        ((4, 5, 9), 6, "periodic", 16, 4, 64),
        ((3, 4, 5), 18, "periodic", 16, 4, 64),
        ((1, 2, 3), 26, "periodic", 16, 4, 64),  # sides of 1 and 2: every wrap-around case
        ((6, 3, 10), 26, "zero", 8, 4, 64),  # 8-wide vectors
        ((3, 3, 6), 26, "periodic", 32, 4, 64),
        ((4, 4, 4), 18, "zero", 16, 2, 64),
    ],
)
def test_fused_equals_reference(size, neighbourhood, boundary, channels, multiplier, hidden):
    _needs_kernel()
    torch.manual_seed(0)
    g = Lattice(LatticeConfig(size=list(size), neighbourhood=neighbourhood, boundary=boundary))
    cell = DepthwiseNCACell(g, channels=channels, multiplier=multiplier, hidden=hidden).eval()
    x = torch.randn(3, *size, channels)
    with torch.no_grad():
        assert _fused.usable(x, channels, multiplier, hidden)
        fused = _fused.depthwise_forward(x, *cell.fused_weights(g), g.periodic_axes)
        _close(cell.lattice_forward(x, g), fused)  # lattice_forward takes the fused kernel
        _close(fused, _reference(cell, g, x))


def test_fused_propagator_and_weight_updates():
    """8 steps through the propagator agree with the reference path; packed weights follow in-place updates."""
    _needs_kernel()
    torch.manual_seed(1)
    g = Lattice(LatticeConfig(size=[6, 6, 6]))
    cell = DepthwiseNCACell(g)
    with torch.no_grad():
        cell.fc2.weight.mul_(0.1)
    s = torch.randn(2, g.num_cells, 16) * 0.1
    fast = NCAPropagator(NCAConfig(steps=8), g, cell).eval()
    ref = NCAPropagator(NCAConfig(steps=8, path="reference"), g, cell).eval()
    with torch.no_grad():
        _close(fast(s), ref(s))
        before = cell.fused_weights(g)
        cell.fc1.bias.add_(0.5)  # in-place update (as an optimiser does): the cache must notice
        assert cell.fused_weights(g) is not before
        _close(fast(s), ref(s))


def test_fallbacks_grad_and_float64():
    """Grad-enabled and float64 calls take the PyTorch path (autograd works, float64 stays float64)."""
    torch.manual_seed(2)
    g = Lattice(LatticeConfig(size=[4, 4, 4]))
    cell = DepthwiseNCACell(g)
    x = torch.randn(1, 4, 4, 4, 16)
    assert not _fused.usable(x.requires_grad_(), 16, 4, 64)  # grad enabled
    out = cell.lattice_forward(x, g)
    out.sum().backward()
    assert cell.perceive.grad is not None and x.grad is not None
    with torch.no_grad():
        assert not _fused.usable(x.double(), 16, 4, 64)
        x64 = x.detach().double()
        cell64 = cell.double()
        out64 = cell64.lattice_forward(x64, g)
        assert out64.dtype == torch.float64
        assert float((out64 - _reference(cell64, g, x64)).abs().max()) < 1e-10


def test_unsupported_shape_falls_back():
    """A (C, M, H) without a compiled kernel uses the PyTorch path and still equals the reference."""
    torch.manual_seed(3)
    g = Lattice(LatticeConfig(size=[3, 4, 5]))
    cell = DepthwiseNCACell(g, channels=5, multiplier=3, hidden=24).eval()
    x = torch.randn(2, 3, 4, 5, 5)
    with torch.no_grad():
        assert not _fused.usable(x, 5, 3, 24)
        _close(cell.lattice_forward(x, g), _reference(cell, g, x))


def test_missing_compiler_warns_and_returns_none(monkeypatch, tmp_path):
    """No compiler: load() warns once, returns None, and lattice_forward still works.
    (The build is aa_core.native's now: the test patches its compiler lookup and forgets the loaded state.)"""
    from aa_core.native import _build

    monkeypatch.setattr(_build, "compiler", lambda: None)
    monkeypatch.setenv("AA_NATIVE_CACHE", str(tmp_path))
    monkeypatch.delenv("AA_NO_NATIVE", raising=False)
    monkeypatch.delenv("AA_NO_FUSED", raising=False)
    _build.reset(_fused.NAME)
    try:
        with pytest.warns(RuntimeWarning, match="unavailable"):
            assert _fused.load() is None
        assert "compiler" in _fused.error()
        g = Lattice(LatticeConfig(size=[3, 3, 3]))
        cell = DepthwiseNCACell(g).eval()
        x = torch.randn(1, 3, 3, 3, 16)
        with torch.no_grad():
            assert not _fused.usable(x, 16, 4, 64)
            _close(cell.lattice_forward(x, g), _reference(cell, g, x))
    finally:
        _build.reset(_fused.NAME)  # the next test loads the real kernel again
