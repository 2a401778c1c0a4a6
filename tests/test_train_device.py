"""train.device / train.precision / train.compile / train.threads through `aa run` on a task that is not
Q→A (tests/task_plugin): each on the CPU where it runs here, on CUDA when a GPU is present."""
from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from aa_core import UserError, validate
from aa_core.train import device

CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU here")


def history(toy, name: str, **train) -> list[dict]:
    """Train 3 epochs with these [train] settings; the history, after checking the weights were saved in fp32."""
    spec = toy.spec(name, train={"epochs": 3, **train})
    r = toy.run("run", str(spec), timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    run_dir = toy.only_dir(toy.work / f"{spec.stem}-ckpt")
    assert all(t.dtype == torch.float32 for t in load_file(str(run_dir / "final" / "model.safetensors")).values())  # master weights
    (metrics,) = (toy.work / f"{spec.stem}-runs").glob("*/metrics.json")
    return json.loads(metrics.read_text())["history"]


@pytest.fixture(scope="module")
def fp32(task_env, tmp_path_factory, toy_task) -> list[dict]:
    return history(toy_task(task_env, tmp_path_factory.mktemp("fp32")), "fp32.toml", precision="fp32")


def test_resolve_devices():
    assert device.resolve("cpu") == torch.device("cpu")
    assert device.resolve("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(UserError, match='train.device = "cuda" but torch sees no CUDA GPU'):
            device.resolve("cuda")


def test_spec_rejects_unknown_precision():
    with pytest.raises(UserError, match="precision"):
        validate({"geometry": {"size": [2, 2, 2]}, "train": {"precision": "fp8"}})


def test_fp16_uses_a_gradient_scaler():
    s = device.scaler(torch.device("cpu"), "fp16")
    assert s.is_enabled() and not device.scaler(torch.device("cpu"), "bf16").is_enabled()
    with device.autocast(torch.device("cpu"), "fp16"):
        assert torch.nn.Linear(4, 4)(torch.randn(2, 4)).dtype == torch.float16


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA GPU is here")
def test_cuda_without_a_gpu_exits_2(toy):
    r = toy.run("run", str(toy.spec(train={"device": "cuda"})))
    assert r.returncode == 2 and 'train.device = "cuda" but torch sees no CUDA GPU' in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_reduced_precision_trains_close_to_fp32_on_cpu(toy, fp32, precision):
    loss = [h["train_loss"] for h in history(toy, f"{precision}.toml", precision=precision)]
    assert loss[-1] < loss[0] - 0.2  # it learns
    assert abs(loss[-1] - fp32[-1]["train_loss"]) < 0.05  # and follows the fp32 run
    assert loss != [h["train_loss"] for h in fp32]  # the reduced precision was really used


def same_result(a: list[dict], b: list[dict]) -> None:
    for x, y in zip(a, b, strict=True):
        assert x["train_loss"] == pytest.approx(y["train_loss"], abs=1e-4)
        assert x["val_loss"] == pytest.approx(y["val_loss"], abs=1e-4)


def test_two_threads_give_the_one_thread_result(toy, fp32):
    same_result(fp32, history(toy, "threads.toml", threads=2))


def test_compile_gives_the_eager_result_on_cpu(toy, fp32):
    same_result(fp32, history(toy, "compiled.toml", compile=True))


@CUDA
@pytest.mark.parametrize("precision", ["fp32", "bf16", "fp16"])
def test_cuda_training(toy, fp32, precision):
    ref = fp32 if precision == "fp32" else history(toy, f"cpu-{precision}.toml", precision=precision)
    loss = [h["train_loss"] for h in history(toy, f"cuda-{precision}.toml", device="cuda", precision=precision)]
    assert loss[-1] < loss[0] - 0.2
    assert abs(loss[-1] - ref[-1]["train_loss"]) < 0.05  # the CPU run's result, up to precision
