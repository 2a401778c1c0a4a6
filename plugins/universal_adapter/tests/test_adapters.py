"""The four universal adapters: shapes, gradients, determinism and reconstruction error."""
from __future__ import annotations

import pytest
import torch

from aa_universal_adapter import adapters as A
from aa_universal_adapter.config import STRATEGIES, AutoencoderConfig, LearnedLinearConfig


def make(name: str, in_dim: int, out_dim: int, **kw):
    torch.manual_seed(0)
    return getattr(A, f"build_{name}")(STRATEGIES[name](**kw), None, in_dim=in_dim, out_dim=out_dim)


@pytest.mark.parametrize("name", list(STRATEGIES))
@pytest.mark.parametrize("dims", [(384, 256), (37, 100), (5, 1)])
def test_shapes_gradients_determinism(name, dims):
    i, o = dims
    m = make(name, i, o)
    assert (m.in_dim, m.out_dim) == (i, o)
    x = torch.randn(3, i, requires_grad=True)
    m.train()
    y = m(x)
    assert y.shape == (3, o) and y.dtype == x.dtype
    y.square().sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    m.eval()
    with torch.no_grad():
        assert torch.equal(m(x), m(x))


def test_linear_expanding_map_reconstructs_exactly_and_bottleneck_does_not():
    x = torch.randn(200, 16)
    assert make("learned_linear", 16, 64).reconstruction_error(x) < 1e-6
    err = make("learned_linear", 16, 4).reconstruction_error(x)
    assert 0.5 < err < 1.0  # 4 of 16 isotropic directions survive: about 3/4 is lost


def test_reconstruction_on_held_out_inputs_uses_the_fit_set():
    g = torch.Generator().manual_seed(1)
    fit, held = torch.randn(300, 16, generator=g), torch.randn(100, 16, generator=g)
    m = make("hierarchical", 16, 48)
    assert m.reconstruction_error(held, x_fit=fit) < 0.4  # nonlinear: a linear read-back recovers most
    assert make("learned_linear", 16, 48).reconstruction_error(held, x_fit=fit) < 1e-5


def test_autoencoder_trains_its_reconstruction_loss():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny matrices: one thread avoids contention on a busy machine
    try:
        _train_autoencoder()
    finally:
        torch.set_num_threads(threads)


def _train_autoencoder():
    torch.manual_seed(0)
    m = make("autoencoder", 12, 24, hidden=32, reconstruction_weight=1.0)
    x = torch.randn(256, 12)
    before = m.reconstruction_error(x)
    opt = torch.optim.Adam(m.parameters(), lr=2e-2)
    m.train()
    for _ in range(80):
        m(x)
        loss = m.aux_loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = m.reconstruction_error(x)
    assert before > 0.5 and after < 0.2 * before
    assert m.decode(m.encoder(x)).shape == x.shape


def test_no_aux_loss_in_eval_or_without_weight():
    m = make("autoencoder", 8, 8, reconstruction_weight=0.0)
    m.train()
    m(torch.randn(2, 8))
    assert m.aux_loss is None
    with pytest.raises(AttributeError):
        make("learned_linear", 8, 8).decode(torch.randn(1, 8))


def test_registered_and_buildable_from_a_spec():
    from aa_core import build_model, validate

    for name in STRATEGIES:
        spec = validate({"geometry": {"size": [3, 3, 2]}, "cell": {"channels": 4, "hidden": 8}, "propagator": {"steps": 1},
                         "adapter": {"name": name}, "pipeline": {"embedding_dim": 20}})
        model, ctx = build_model(spec)
        assert model(torch.randn(2, 20)).shape == (2, 20)
        assert ctx.built["adapter:write"].in_dim == 20 and ctx.built["adapter:read"].out_dim == 20


def test_config_check_and_linear_bias_flag():
    assert list(STRATEGIES["attention_based"](d_model=30, heads=4).check())
    m = A.build_learned_linear(LearnedLinearConfig(bias=False), None, in_dim=3, out_dim=2)
    assert m.encoder.bias is None
    assert AutoencoderConfig().reconstruction_weight == 0.1
