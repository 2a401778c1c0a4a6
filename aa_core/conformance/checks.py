"""Contract checks, one per protocol; each starts with the runtime protocol check."""
from __future__ import annotations

import copy
from typing import Any, cast

import torch
from torch import nn

from .. import protocols as P

TOL = 1e-4  # fast lattice forms vs the reference gather, fp32


def _randomised(module: nn.Module, seed: int = 0) -> Any:  # Any: components are checked against the protocols, not by class
    """A copy with all floating parameters redrawn, so zero-initialised layers cannot hide bugs."""
    m = copy.deepcopy(module)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in m.parameters():
            if p.is_floating_point():
                p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype) * 0.3 + (1.0 if p.ndim == 1 and torch.all(p == 1) else 0.0))
    return m.eval()


def check_protocol(obj: Any, protocol: type, what: str) -> None:
    """``obj`` has every member of ``protocol`` (names the missing ones)."""
    if isinstance(obj, protocol):
        return
    members = sorted(m for m in getattr(protocol, "__protocol_attrs__", dir(protocol)) if not m.startswith("_") or m == "__call__")
    missing = [m for m in members if getattr(obj, m, None) is None]
    raise AssertionError(f"{what} {type(obj).__name__} does not implement aa_core.protocols.{protocol.__name__}: missing {', '.join(missing) or '?'}")


def _close(a: torch.Tensor, b: torch.Tensor, what: str, tol: float = TOL) -> None:
    err = (a - b).abs().max().item() if a.numel() else 0.0
    scale = max(1.0, b.abs().max().item() if b.numel() else 1.0)
    assert err <= tol * scale, f"{what}: max abs difference {err:.3g} exceeds {tol:g}·{scale:.3g}"


def check_geometry(geometry: Any) -> None:
    """Protocol, neighbour index, centre, faces, and gather / to_grid / to_cells agree with each other."""
    check_protocol(geometry, P.Geometry, "geometry")
    N, K = geometry.num_cells, geometry.k
    idx = geometry.neighbour_index()
    assert idx.shape == (N, K), f"neighbour_index shape {tuple(idx.shape)} != ({N}, {K})"
    assert idx.dtype == torch.long, "neighbour_index must be int64"
    assert int(idx.min()) >= 0 and int(idx.max()) <= N, "neighbour ids must lie in [0, N]"
    assert torch.equal(idx[:, geometry.center_index], torch.arange(N)), "the centre offset must point at the cell itself"
    for face in (geometry.input_cells, geometry.output_cells):
        assert face.ndim == 1 and len(face) > 0 and int(face.max()) < N, "face index sets must be non-empty cell ids"
    assert len(geometry.offsets) == K and geometry.offsets[geometry.center_index] == (0, 0, 0), "offsets[center_index] must be (0, 0, 0)"
    state = torch.randn(2, N, 3, generator=torch.Generator().manual_seed(0))
    grid = geometry.to_grid(state)
    assert grid.shape == (2, *geometry.size, 3), f"to_grid shape {tuple(grid.shape)} != {(2, *geometry.size, 3)}"
    assert torch.equal(geometry.to_cells(grid), state), "to_cells(to_grid(s)) != s"
    gathered = geometry.gather(state)
    assert gathered.shape == (2, N, K, 3), f"gather shape {tuple(gathered.shape)} != {(2, N, K, 3)}"
    padded = torch.cat([state, state.new_zeros(2, 1, 3)], 1)[:, idx]
    assert torch.equal(gathered, padded), "gather disagrees with neighbour_index"
    assert geometry.hop_distance(0).shape == (N,), "hop_distance must return [N]"


def check_cell(cell: nn.Module, geometry: Any, batch: int = 2) -> None:
    """Shapes, dtype, eval determinism, locality, batch independence, lattice_forward == forward."""
    check_protocol(cell, P.Cell, "cell")
    c = _randomised(cell)
    N, K, C = geometry.num_cells, geometry.k, c.channels
    g = torch.Generator().manual_seed(1)
    x = torch.randn(batch, N, K, C, generator=g)
    with torch.no_grad():
        y = c(x)
        assert y.shape == (batch, N, C), f"cell output shape {tuple(y.shape)} != {(batch, N, C)}"
        assert y.dtype == x.dtype, f"cell changed dtype {x.dtype} → {y.dtype}"
        assert torch.isfinite(y).all(), "cell output has non-finite values"
        assert torch.equal(y, c(x)), "cell is not deterministic in eval mode"
        # locality: changing cell j's neighbourhood changes only output j
        j = N // 2
        x2 = x.clone()
        x2[:, j] += torch.randn(batch, K, C, generator=g)
        y2 = c(x2)
        changed = (y2 - y).abs().amax(dim=(0, 2)) > 1e-6
        others = changed.clone()
        others[j] = False
        assert not others.any(), f"cell output of cells {others.nonzero().flatten().tolist()[:5]} depends on cell {j}'s neighbourhood"
        # batch independence
        _close(c(x[:1]), y[:1], "cell output depends on other batch items", 1e-5)
        if hasattr(cell, "lattice_forward"):
            state = torch.randn(batch, N, C, generator=g)
            ref = c(geometry.gather(state))
            fast = geometry.to_cells(c.lattice_forward(geometry.to_grid(state), geometry))
            _close(fast, ref, "lattice_forward disagrees with forward on the gathered neighbourhood")
            if isinstance(cell, P.MaskedLatticeCell):
                grid = geometry.to_grid(state)
                where = torch.rand(*grid.shape[:4], 1, generator=g) < 0.4
                at = c.lattice_forward_at(grid, geometry, where)
                dense = c.lattice_forward(grid, geometry)
                assert at.shape == dense.shape, f"lattice_forward_at shape {tuple(at.shape)} != {tuple(dense.shape)}"
                _close(at, dense * where.to(dense.dtype), "lattice_forward_at disagrees with lattice_forward ⊙ where")
        x64 = x.double()
        y64 = c.double()(x64)
        assert y64.dtype == torch.float64, "cell does not preserve float64"


def check_propagator(propagator: nn.Module, geometry: Any, channels: int, batch: int = 2) -> None:
    """Shapes, dtype, eval determinism, (for local propagators) the light cone and (for scheduled
    ones) that ``period`` calls of ``step_at`` — and of ``step_grid_at`` — are one call."""
    check_protocol(propagator, P.Propagator, "propagator")
    if getattr(propagator, "light_cone", False):
        check_protocol(propagator, P.LocalPropagator, "local propagator")
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
        if isinstance(prop, P.ScheduledPropagator):
            stepped, grid = s, geometry.to_grid(s)
            for t in range(prop.period):
                stepped, grid = prop.step_at(stepped, t), prop.step_grid_at(grid, t)
            _close(stepped, out, "period calls of step_at disagree with one call of the propagator")
            _close(geometry.to_cells(grid), out, "period calls of step_grid_at disagree with one call of the propagator")


def check_nca_paths(cell: str, config: dict[str, Any] | None = None, neighbourhood: int = 26, boundary: str = "zero",
                    size: tuple[int, int, int] = (4, 4, 4), steps: int = 2) -> None:
    """The ``nca`` propagator with registered cell ``cell`` gives the same states on its fast and
    reference paths, and each path passes :func:`check_propagator`."""
    from ..assemble import BuildContext
    from ..spec import validate

    outs = {}
    for path in ("reference", "fast"):
        raw = {
            "geometry": {"name": "lattice", "size": list(size), "neighbourhood": neighbourhood, "boundary": boundary},
            "cell": {"name": cell, **(config or {})},
            "propagator": {"name": "nca", "steps": steps, "path": path},
        }
        ctx = BuildContext(validate(raw, source=f"<conformance nca paths, cell {cell}>"))
        torch.manual_seed(3)  # the same initial weights on both paths
        prop = cast(nn.Module, ctx.propagator).eval()
        check_propagator(prop, ctx.geometry, ctx.cell.channels)
        s = torch.randn(2, ctx.geometry.num_cells, ctx.cell.channels, generator=torch.Generator().manual_seed(4))
        with torch.no_grad():
            outs[path] = prop(s)
    _close(outs["fast"], outs["reference"], f"nca fast path disagrees with the reference for cell {cell!r}")
    if isinstance(ctx.cell, P.MaskedLatticeCell):
        _check_masked_step(ctx, cell)


def _check_masked_step(ctx: Any, cell: str) -> None:
    """Training steps with fire and alive masks: the masked update (only cells that can reach the
    result) gives the dense step's states and gradients for the same random fire masks."""
    from ..lattice.config import NCAConfig
    from ..lattice.nca import NCAPropagator

    prop = NCAPropagator(NCAConfig(steps=3, fire_rate=0.5, alive_threshold=0.1, alive_channel=0), ctx.geometry,
                         _randomised(ctx.cell).train())
    s = torch.randn(2, ctx.geometry.num_cells, ctx.cell.channels, generator=torch.Generator().manual_seed(5))
    s[:, : ctx.geometry.num_cells // 2, 0] = 0.0  # a dead region: the masked step skips its far cells
    results = []
    for masked in (False, True):
        prop._selective = "masked" if masked else ""  # dense first, then the masked step
        x = s.clone().requires_grad_(True)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(6)  # the same fire masks
            out = prop(x)
        grads = torch.autograd.grad((out * torch.linspace(-1, 1, out.numel()).view_as(out)).sum(),
                                    [x, *[p for p in prop.parameters() if p.requires_grad]])
        results.append((out.detach(), *grads))
    for a, b in zip(*results):
        _close(a, b, f"nca masked update (MaskedLatticeCell) disagrees with the dense step for cell {cell!r}")


def check_adapter(adapter: nn.Module, batch: int = 3) -> None:
    """Protocol, ``[B, in_dim]`` → ``[B, out_dim]``, determinism, batch independence."""
    check_protocol(adapter, P.Adapter, "adapter")
    ad = _randomised(adapter)
    x = torch.randn(batch, ad.in_dim, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        y = ad(x)
        assert y.shape == (batch, ad.out_dim), f"adapter output {tuple(y.shape)} != {(batch, ad.out_dim)}"
        assert y.dtype == x.dtype and torch.isfinite(y).all()
        assert torch.equal(y, ad(x)), "adapter is not deterministic in eval mode"
        _close(ad(x[:1]), y[:1], "adapter output depends on other batch items", 1e-5)


def check_tokenizer(tok: Any) -> None:
    """Protocol, ``list[str]`` → float32 ``[B, D]``, determinism, batch independence, empty input."""
    check_protocol(tok, P.Tokenizer, "tokenizer")
    texts = ["What is a cellular automaton?", "Gradient descent follows the negative gradient."]
    e = tok.encode(texts)
    assert e.shape == (2, tok.embedding_dim), f"tokenizer output {tuple(e.shape)} != (2, {tok.embedding_dim})"
    assert e.dtype == torch.float32 and torch.isfinite(e).all()
    assert torch.allclose(e, tok.encode(texts), atol=1e-6), "tokenizer is not deterministic"
    assert torch.allclose(tok.encode(texts[1:]), e[1:], atol=1e-5), "embedding depends on the other texts in the batch"
    assert tok.encode([]).shape == (0, tok.embedding_dim)


def check_subword(tok: Any) -> None:
    """Protocol; fit, then encode → decode round-trips ordinary text; padding, bos/eos, max_length, saved state."""
    check_protocol(tok, P.SubwordTokenizer, "subword tokenizer")
    texts = ["what is a cellular automaton", "gradient descent follows the negative gradient", "a b"]
    tok.fit(texts * 3)
    assert tok.fitted, "a subword tokenizer must be fitted after fit()"
    ids = tok.encode(texts)
    assert ids.dtype == torch.long and ids.dim() == 2 and ids.shape[0] == 3, f"encode must give long [B, L], got {ids.dtype} {tuple(ids.shape)}"
    assert int(ids.max()) < tok.vocab_size, "an id is outside the vocabulary"
    assert tok.decode(ids) == texts, f"decode(encode(texts)) changed the texts: {tok.decode(ids)}"
    wrapped = tok.encode(texts, bos=True, eos=True)
    assert bool((wrapped[:, 0] == tok.bos_id).all()), "bos=True must start every row with bos_id"
    assert tok.decode(wrapped) == texts, "bos/eos must be dropped by decode"
    assert tok.encode(texts, max_length=2).shape[1] <= 2, "max_length must cut the rows"
    assert torch.equal(tok.encode(texts[1:2]), ids[1:2, : tok.encode(texts[1:2]).shape[1]]), "encoding depends on the other texts"
    if isinstance(tok, P.StatefulComponent):
        j, t = tok.to_extra()
        fresh: Any = copy.copy(tok)
        fresh.load_extra(j, t)
        assert torch.equal(fresh.encode(texts), ids), "a tokenizer restored from to_extra() encodes differently"


def check_encoder(encoder: nn.Module, batch: int = 3) -> None:
    """Protocol, ids ``[B, L]`` → ``[B, F, C]``, determinism, independence of the other rows' padding."""
    check_protocol(encoder, P.TextEncoder, "text encoder")
    enc = _randomised(encoder)
    g = torch.Generator().manual_seed(6)
    ids = torch.randint(0, enc.vocab_size, (batch, 9), generator=g)
    ids[ids == enc.pad_id] = (enc.pad_id + 1) % enc.vocab_size
    ids[0, 5:] = enc.pad_id  # a shorter text in the batch
    with torch.no_grad():
        y = enc(ids)
        assert y.shape == (batch, enc.cells, enc.channels), f"encoder output {tuple(y.shape)} != {(batch, enc.cells, enc.channels)}"
        assert y.dtype == torch.float32 and torch.isfinite(y).all()
        assert torch.equal(y, enc(ids)), "encoder is not deterministic in eval mode"
        _close(enc(ids[:1, :5]), y[:1], "encoder output depends on padding or on other batch items", 1e-5)


def check_decoder(decoder: Any) -> None:
    """Protocol; a fitted vector decodes to its own text; saved state restores to the same decoder."""
    check_protocol(decoder, P.Decoder, "decoder")
    texts = [f"answer number {i}" for i in range(6)]
    bank = torch.nn.functional.normalize(torch.randn(6, 16, generator=torch.Generator().manual_seed(4)), dim=-1)
    decoder.fit(texts, bank)
    out = decoder.decode(bank)
    assert isinstance(out, list) and all(isinstance(t, str) for t in out), "decode must return list[str]"
    assert out == texts, f"decoding a bank vector must return its own text, got {out}"
    if isinstance(decoder, P.StatefulComponent):
        j, t = decoder.to_extra()
        fresh: Any = copy.copy(decoder)
        fresh.load_extra(j, t)
        assert fresh.decode(bank) == texts, "a decoder restored from to_extra() decodes differently"


def check_pipeline(model: nn.Module, batch: int = 2) -> None:
    """Protocol; a training step on ``example_batch`` gives a finite scalar loss and gradients (the
    pipeline's own loss when it has one, else the mean square of its output); eval determinism."""
    check_protocol(model, P.Pipeline, "pipeline")
    g = torch.Generator().manual_seed(5)
    example = model.example_batch(batch, g)  # type: ignore[operator]
    assert {"inputs", "targets"} <= set(example), f"example_batch must hold 'inputs' and 'targets', got {sorted(example)}"
    model.train()
    loss = model.training_loss(example, None) if isinstance(model, P.PipelineLoss) else model(example["inputs"]).float().square().mean()
    assert loss.ndim == 0 and torch.isfinite(loss), f"training_loss must be a finite scalar, got {loss}"
    loss.backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert any(gr is not None and gr.abs().sum() > 0 for gr in grads), "no parameter receives a gradient"
    model.eval()
    with torch.no_grad():
        out = model(example["inputs"])
        assert out.shape[0] == batch, f"pipeline output has {out.shape[0]} rows for a batch of {batch}"
        assert torch.equal(out, model(example["inputs"])), "pipeline is not deterministic in eval mode"


def check_dataset(dataset: Any, batch: int = 2) -> None:
    """Protocol; sizes per split; a batch by index has that many rows and is the same when asked twice; a
    :class:`~aa_core.protocols.ServableDataset`'s ``input_schema()`` is a JSON object."""
    check_protocol(dataset, P.Dataset, "dataset")
    assert isinstance(dataset.hash, str) and dataset.hash, "a dataset's hash must be a non-empty string"
    sizes = dataset.sizes()
    assert {"train", "validation", "test"} <= set(sizes), f"sizes() must give train, validation and test, got {sorted(sizes)}"
    assert all(isinstance(n, int) and n >= 0 for n in sizes.values()), f"sizes must be counts, got {sizes}"
    assert sizes["train"] > 0, "the training split is empty"
    if isinstance(dataset, P.ServableDataset):  # aa serve's generic handler: the schema of one input is a JSON object
        import json

        schema = dataset.input_schema()
        assert isinstance(schema, dict) and schema, f"input_schema() must return a JSON schema (a non-empty dict), got {schema!r}"
        json.dumps(schema)  # raises when it is not JSON
    if isinstance(dataset, P.FittedDataset):
        return  # its tensors exist after setup(model, ctx); the trainer's tests cover it through a task
    idx = torch.arange(min(batch, sizes["train"]))
    first, again = dataset.batch("train", idx), dataset.batch("train", idx)
    assert isinstance(first, dict) and first, "batch() must return a non-empty dict"
    for key, value in first.items():
        if isinstance(value, torch.Tensor) and value.ndim > 0:
            assert value.shape[0] == len(idx), f"batch()[{key!r}] has {value.shape[0]} rows for {len(idx)} indices"
            if not isinstance(dataset, P.SampledDataset):
                assert torch.equal(value, again[key]), f"batch()[{key!r}] differs when asked twice for the same indices"


def check_objective(objective: Any) -> None:
    """Protocol; ``selection`` is (metric, max|min) among the declared ``metrics``; ``configure_optimizers``
    gives an optimizer over a model's parameters and a scheduler (or None) that steps."""
    import json

    check_protocol(objective, P.Objective, "objective")
    metric, mode = objective.selection
    assert isinstance(metric, str) and metric.startswith("val_") and mode in ("max", "min"), \
        f"selection must be (a val_ metric, 'max' or 'min'), got {objective.selection!r}"
    assert all(isinstance(m, str) and m.startswith("val_") for m in objective.metrics), f"metrics must be val_ names, got {objective.metrics!r}"
    assert not objective.metrics or metric in objective.metrics, f"the selection metric {metric!r} is not among metrics {objective.metrics!r}"
    from ..spec import TrainConfig

    model = nn.Linear(3, 2)
    opt, sched = objective.configure_optimizers(model, TrainConfig(), 10)
    assert isinstance(opt, torch.optim.Optimizer), f"configure_optimizers must return an optimizer first, got {type(opt).__name__}"
    assert {id(p) for g in opt.param_groups for p in g["params"]} <= {id(p) for p in model.parameters()}, \
        "the optimizer must hold the model's parameters"
    model(torch.ones(1, 3)).sum().backward()
    opt.step()
    if sched is not None:
        sched.step()
    json.dumps(opt.state_dict()["param_groups"])  # what a resumable checkpoint stores


def check_callback(callback: Any) -> None:
    """Protocol; its state is JSON (saved with every resumable checkpoint) and loads back."""
    import json

    check_protocol(callback, P.Callback, "callback")
    state = callback.state_dict()
    assert isinstance(state, dict), f"state_dict() must return a dict, got {type(state).__name__}"
    callback.load_state_dict(json.loads(json.dumps(state)))


def check_component(kind: str, obj: Any, ctx: Any) -> None:
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
    elif kind == "subword":
        check_subword(obj)
    elif kind == "encoder":
        check_encoder(obj)
    elif kind == "pipeline":
        check_pipeline(obj)
    elif kind == "dataset":
        check_dataset(obj)
    elif kind == "objective":
        check_objective(obj)
    elif kind == "callback":
        check_callback(obj)
    else:
        raise ValueError(f"no conformance check for kind {kind!r}")
