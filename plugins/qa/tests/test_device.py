"""train.device / train.precision / train.compile: each on the CPU where it runs here, CUDA when a GPU is present."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from aa_core import UserError, validate
from aa_core.assemble import build_model
from aa_core.train import TrainConfig, device
from aa_qa.train import train_model

CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU here")


def _problem(d: int = 16, n: int = 96):
    g = torch.Generator().manual_seed(0)
    W = torch.randn(d, d, generator=g)
    x = F.normalize(torch.randn(n, d, generator=g), dim=-1)
    y = F.normalize(x @ W, dim=-1)
    return x[:72], y[:72], x[72:], y[72:], [f"a{i}" for i in range(n - 72)]


def _model():
    spec = validate({"geometry": {"size": [3, 3, 2]}, "cell": {"name": "mlp", "channels": 4, "hidden": 8},
                     "propagator": {"steps": 2}, "adapter": {"name": "learned_linear"}, "tokenizer": {"name": "teacher"},
                     "pipeline": {"name": "direct_embedding", "residual": True}})
    torch.manual_seed(0)
    return build_model(spec)[0]


def _fit(epochs: int = 4, **settings):
    model = _model()
    d = model.embedding_dim
    x, y, xv, yv, names = _problem(d)
    cfg = TrainConfig(epochs=epochs, batch_size=18, lr=0.01, patience=10, threads=1, **settings)
    return model, train_model(model, x, y, xv, yv, names, cfg, progress=False)


def test_resolve_devices():
    assert device.resolve("cpu") == torch.device("cpu")
    assert device.resolve("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(UserError, match='train.device = "cuda" but torch sees no CUDA GPU'):
            device.resolve("cuda")


def test_spec_rejects_unknown_precision():
    with pytest.raises(UserError, match="precision"):
        validate({"geometry": {"size": [2, 2, 2]}, "train": {"precision": "fp8"}})


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_reduced_precision_trains_close_to_fp32_on_cpu(precision):
    _, ref = _fit(precision="fp32")
    model, res = _fit(precision=precision)
    assert all(p.dtype == torch.float32 for p in model.parameters())  # master weights stay fp32 (autocast)
    loss = [h["train_loss"] for h in res["history"]]
    assert loss[-1] < loss[0] - 0.05  # it learns
    assert abs(loss[-1] - ref["history"][-1]["train_loss"]) < 0.01  # and follows the fp32 run
    assert loss != [h["train_loss"] for h in ref["history"]]  # the reduced precision was really used


def test_fp16_uses_a_gradient_scaler():
    s = device.scaler(torch.device("cpu"), "fp16")
    assert s.is_enabled() and not device.scaler(torch.device("cpu"), "bf16").is_enabled()
    with device.autocast(torch.device("cpu"), "fp16"):
        assert torch.nn.Linear(4, 4)(torch.randn(2, 4)).dtype == torch.float16


def test_compile_gives_the_eager_result_on_cpu():
    _, eager = _fit(epochs=2)
    _, comp = _fit(epochs=2, compile=True)
    for a, b in zip(eager["history"], comp["history"]):
        assert a["train_loss"] == pytest.approx(b["train_loss"], abs=1e-4)
        assert a["val_cosine"] == pytest.approx(b["val_cosine"], abs=1e-4)


@CUDA
@pytest.mark.parametrize("precision", ["fp32", "bf16", "fp16"])
def test_cuda_training(precision):
    _, ref = _fit(precision=precision)
    _, res = _fit(device="cuda", precision=precision)
    loss = [h["train_loss"] for h in res["history"]]
    assert loss[-1] < loss[0] - 0.05
    assert abs(loss[-1] - ref["history"][-1]["train_loss"]) < 0.01  # the CPU run's result, up to precision

