"""The MNIST-1D paper's baselines as pipelines (Greydanus & Kobak 2024): an MLP and a strided 1D CNN.

Both take the same batch as ``ca_classifier`` (``inputs [B, N, F]``) and return logits ``[B, 1, K]``
(one "cell"), so the ``mnist1d_consensus`` objective treats every model alike.
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .classifier import consensus_logits
from .classifier_config import CNNClassifierConfig, MLPClassifierConfig


class _Baseline(nn.Module):
    classes: int
    shape: tuple[int, int]  # (N, F) of example inputs

    # the Pipeline contract (the conformance kit's training step; MNIST-1D trains with mnist1d_consensus)
    def training_loss(self, batch: dict[str, Any], settings: Any) -> torch.Tensor:
        return F.cross_entropy(consensus_logits(self(batch["inputs"])), batch["targets"])

    def example_batch(self, size: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
        return {"inputs": torch.randn(size, *self.shape, generator=generator),
                "targets": torch.randint(0, self.classes, (size,), generator=generator)}


class MLPClassifier(_Baseline):
    """Linear(N·F → 100) ReLU, then ``h + ReLU(Linear(100 → 100) h)`` (the paper's residual hidden layer;
    plain with ``residual = false``), Linear(100 → K): 15,210 parameters on MNIST-1D."""

    def __init__(self, config: MLPClassifierConfig):
        super().__init__()
        self.classes = config.classes
        self.shape = (config.inputs, 1)
        self.residual = config.residual
        widths = [config.inputs, *config.hidden]
        self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in zip(widths[:-1], widths[1:]))
        self.out = nn.Linear(widths[-1], config.classes)

    def forward(self, inputs: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        h = F.relu(self.hidden[0](inputs.flatten(1).float()))  # [B, H]
        for layer in self.hidden[1:]:
            h = h + F.relu(layer(h)) if self.residual else F.relu(layer(h))
        return self.out(h).unsqueeze(1)  # [B, 1, K]


class CNNClassifier(_Baseline):
    """Conv1d(F→25, 5, stride 2, pad 1), two Conv1d(25→25, 3, stride 2, pad 1), ReLU each, Linear → K:
    5,210 parameters on MNIST-1D."""

    def __init__(self, config: CNNClassifierConfig):
        super().__init__()
        self.classes = config.classes
        self.shape = (config.length, config.in_features)
        convs = []
        c_in, length = config.in_features, config.length
        for k in config.kernels:
            convs.append(nn.Conv1d(c_in, config.channels, k, stride=config.stride, padding=config.padding))
            c_in = config.channels
            length = (length + 2 * config.padding - k) // config.stride + 1
        self.convs = nn.ModuleList(convs)
        self.linear = nn.Linear(config.channels * length, config.classes)

    def forward(self, inputs: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        h = inputs.float().transpose(1, 2)  # [B, F, N]
        for conv in self.convs:
            h = F.relu(conv(h))
        return self.linear(h.flatten(1)).unsqueeze(1)


def build_mlp(config: MLPClassifierConfig, ctx: Any) -> MLPClassifier:
    return MLPClassifier(config)


def build_cnn(config: CNNClassifierConfig, ctx: Any) -> CNNClassifier:
    return CNNClassifier(config)
