"""Contract checks, one per protocol."""
from __future__ import annotations

import copy

import torch
from torch import nn

TOL = 1e-4  # fast lattice forms vs the reference gather, fp32


def _randomised(module: nn.Module, seed: int = 0) -> nn.Module:
    """A copy with all floating parameters redrawn, so zero-initialised layers cannot hide bugs."""
    m = copy.deepcopy(module)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in m.parameters():
            if p.is_floating_point():
                p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype) * 0.3 + (1.0 if p.ndim == 1 and torch.all(p == 1) else 0.0))
    return m.eval()


def _close(a: torch.Tensor, b: torch.Tensor, what: str, tol: float = TOL) -> None:
    err = (a - b).abs().max().item() if a.numel() else 0.0
    scale = max(1.0, b.abs().max().item() if b.numel() else 1.0)
    assert err <= tol * scale, f"{what}: max abs difference {err:.3g} exceeds {tol:g}·{scale:.3g}"


def check_geometry(geometry) -> None:
    N, K = geometry.num_cells, geometry.k
    idx = geometry.neighbour_index()
    assert idx.shape == (N, K), f"neighbour_index shape {tuple(idx.shape)} != ({N}, {K})"
    assert idx.dtype == torch.long, "neighbour_index must be int64"
    assert int(idx.min()) >= 0 and int(idx.max()) <= N, "neighbour ids must lie in [0, N]"
    assert torch.equal(idx[:, geometry.center_index], torch.arange(N)), "the centre offset must point at the cell itself"
    for face in (geometry.input_cells, geometry.output_cells):
        assert face.ndim == 1 and len(face) > 0 and int(face.max()) < N, "face index sets must be non-empty cell ids"


def check_cell(cell: nn.Module, geometry, batch: int = 2) -> None:
    """Shapes, dtype, eval determinism, locality, batch independence, lattice_forward == forward."""
    cell = _randomised(cell)
    N, K, C = geometry.num_cells, geometry.k, cell.channels
    g = torch.Generator().manual_seed(1)
    x = torch.randn(batch, N, K, C, generator=g)
    with torch.no_grad():
        y = cell(x)
        assert y.shape == (batch, N, C), f"cell output shape {tuple(y.shape)} != {(batch, N, C)}"
        assert y.dtype == x.dtype, f"cell changed dtype {x.dtype} → {y.dtype}"
        assert torch.isfinite(y).all(), "cell output has non-finite values"
        assert torch.equal(y, cell(x)), "cell is not deterministic in eval mode"
        # locality: changing cell j's neighbourhood changes only output j
        j = N // 2
        x2 = x.clone()
        x2[:, j] += torch.randn(batch, K, C, generator=g)
        y2 = cell(x2)
        changed = (y2 - y).abs().amax(dim=(0, 2)) > 1e-6
        others = changed.clone()
        others[j] = False
        assert not others.any(), f"cell output of cells {others.nonzero().flatten().tolist()[:5]} depends on cell {j}'s neighbourhood"
        # batch independence
        _close(cell(x[:1]), y[:1], "cell output depends on other batch items", 1e-5)
        if hasattr(cell, "lattice_forward"):
            state = torch.randn(batch, N, C, generator=g)
            ref = cell(geometry.gather(state))
            fast = geometry.to_cells(cell.lattice_forward(geometry.to_grid(state), geometry))
            _close(fast, ref, "lattice_forward disagrees with forward on the gathered neighbourhood")
        x64 = x.double()
        y64 = cell.double()(x64)
        assert y64.dtype == torch.float64, "cell does not preserve float64"


def check_propagator(propagator: nn.Module, geometry, channels: int, batch: int = 2) -> None:
    """Shapes, dtype, eval determinism and (for local propagators) the light cone."""
    prop = _randomised(propagator)
    N = geometry.num_cells
    g = torch.Generator().manual_seed(2)
    s = torch.randn(batch, N, channels, generator=g)
    with torch.no_grad():
        out = prop(s)
        assert out.shape == s.shape, f"propagator output shape {tuple(out.shape)} != {tuple(s.shape)}"
        assert out.dtype == s.dtype, "propagator changed dtype"
        assert torch.equal(out, prop(s)), "propagator is not deterministic in eval mode"
        if getattr(prop, "light_cone", False):
            steps = prop.steps
            c = N // 2
            s2 = s.clone()
            s2[:, c] += 1.0
            reach = ((prop(s2) - out).abs().amax(dim=(0, 2)) > 1e-6)
            dist = geometry.hop_distance(c)
            outside = reach & (dist > steps)
            assert not outside.any(), f"change at cell {c} reached cells beyond {steps} hops: {outside.nonzero().flatten().tolist()[:5]}"


def check_nca_paths(cell: str, config: dict | None = None, neighbourhood: int = 26, boundary: str = "zero", size=(4, 4, 4), steps: int = 2) -> None:
    """The ``nca`` propagator with registered cell ``cell`` gives the same states on its fast and
    reference paths, and each path passes :func:`check_propagator`."""
    from .._build import BuildContext
    from .._spec import validate

    outs = {}
    for path in ("reference", "fast"):
        raw = {
            "geometry": {"name": "lattice", "size": list(size), "neighbourhood": neighbourhood, "boundary": boundary},
            "cell": {"name": cell, **(config or {})},
            "propagator": {"name": "nca", "steps": steps, "path": path},
        }
        ctx = BuildContext(validate(raw, source=f"<conformance nca paths, cell {cell}>"))
        torch.manual_seed(3)  # the same initial weights on both paths
        prop = ctx.propagator.eval()
        check_propagator(prop, ctx.geometry, ctx.cell.channels)
        s = torch.randn(2, ctx.geometry.num_cells, ctx.cell.channels, generator=torch.Generator().manual_seed(4))
        with torch.no_grad():
            outs[path] = prop(s)
    _close(outs["fast"], outs["reference"], f"nca fast path disagrees with the reference for cell {cell!r}")


def check_adapter(adapter: nn.Module, batch: int = 3) -> None:
    ad = _randomised(adapter)
    x = torch.randn(batch, ad.in_dim, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        y = ad(x)
        assert y.shape == (batch, ad.out_dim), f"adapter output {tuple(y.shape)} != {(batch, ad.out_dim)}"
        assert y.dtype == x.dtype and torch.isfinite(y).all()
        assert torch.equal(y, ad(x)), "adapter is not deterministic in eval mode"
        _close(ad(x[:1]), y[:1], "adapter output depends on other batch items", 1e-5)


def check_tokenizer(tok) -> None:
    texts = ["What is a cellular automaton?", "Gradient descent follows the negative gradient."]
    e = tok.encode(texts)
    assert e.shape == (2, tok.embedding_dim), f"tokenizer output {tuple(e.shape)} != (2, {tok.embedding_dim})"
    assert e.dtype == torch.float32 and torch.isfinite(e).all()
    assert torch.allclose(e, tok.encode(texts), atol=1e-6), "tokenizer is not deterministic"
    assert torch.allclose(tok.encode(texts[1:]), e[1:], atol=1e-5), "embedding depends on the other texts in the batch"
    assert tok.encode([]).shape == (0, tok.embedding_dim)


def check_decoder(decoder) -> None:
    texts = [f"answer number {i}" for i in range(6)]
    bank = torch.nn.functional.normalize(torch.randn(6, 16, generator=torch.Generator().manual_seed(4)), dim=-1)
    decoder.fit(texts, bank)
    out = decoder.decode(bank)
    assert isinstance(out, list) and all(isinstance(t, str) for t in out), "decode must return list[str]"
    assert out == texts, f"decoding a bank vector must return its own text, got {out}"


def check_pipeline(model: nn.Module, batch: int = 2) -> None:
    D = model.embedding_dim
    x = torch.randn(batch, D, generator=torch.Generator().manual_seed(5))
    model.train()
    y = model(x)
    assert y.shape == (batch, D), f"pipeline output {tuple(y.shape)} != {(batch, D)}"
    y.square().sum().backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert any(g is not None and g.abs().sum() > 0 for g in grads), "no parameter receives a gradient"
    model.eval()
    with torch.no_grad():
        assert torch.equal(model(x), model(x)), "pipeline is not deterministic in eval mode"


def check_component(kind: str, obj, ctx) -> None:
    """Run the check that matches ``kind`` on a component built by :func:`build_registered`."""
    if kind == "geometry":
        check_geometry(obj)
    elif kind == "cell":
        check_cell(obj, ctx.geometry)
    elif kind == "propagator":
        check_propagator(obj, ctx.geometry, ctx.cell.channels)
    elif kind == "adapter":
        check_adapter(obj)
    elif kind == "tokenizer":
        check_tokenizer(obj)
    elif kind == "decoder":
        check_decoder(obj)
    elif kind == "pipeline":
        check_pipeline(obj)
    else:
        raise ValueError(f"no conformance check for kind {kind!r}")
