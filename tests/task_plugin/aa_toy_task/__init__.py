"""A task plugin that is not Q→A: four classes of random vectors (the class is where the largest of the
first four features is). The dataset owns its loss and metric (``TaskObjective``) and describes examples
and predictions; the model is any core pipeline that reads ``features``-wide inputs (``direct_embedding``).
``poison = N`` makes the first N training examples NaN, to exercise the non-finite guard."""
from __future__ import annotations

import hashlib

import attrs
import torch
import torch.nn.functional as F

from aa_core.plugin import Component, hookimpl


@attrs.define
class ToyConfig:
    size: int = 64
    features: int = 8
    poison: int = 0


class Toy:
    def __init__(self, config: ToyConfig, ctx: object = None):
        x = torch.randn(config.size, config.features, generator=torch.Generator().manual_seed(0))
        y = x[:, :4].argmax(1)
        n = config.size // 4
        train = x[2 * n:].clone()
        train[: config.poison] = float("nan")
        self.splits = {"train": (train, y[2 * n:]), "validation": (x[:n], y[:n]), "test": (x[n:2 * n], y[n:2 * n])}
        self.hash = hashlib.sha256(x.numpy().tobytes() + train.numpy().tobytes()).hexdigest()

    def sizes(self) -> dict[str, int]:
        return {k: len(y) for k, (_, y) in self.splits.items()}

    def batch(self, split: str, index: torch.Tensor) -> dict[str, torch.Tensor]:
        x, y = self.splits[split]
        return {"inputs": x[index], "targets": y[index]}

    def training_loss(self, model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return F.cross_entropy(model(batch["inputs"])[:, :4], batch["targets"])

    @torch.no_grad()
    def validation_metrics(self, model: torch.nn.Module) -> dict[str, float]:
        x, y = self.splits["validation"]
        logits = model(x)[:, :4]
        return {"val_accuracy": float((logits.argmax(1) == y).float().mean()), "val_loss": float(F.cross_entropy(logits, y))}

    def describe(self, index: int, split: str) -> str:
        return f"{split} example {index}: class {int(self.splits[split][1][index])}"

    def describe_prediction(self, output: torch.Tensor) -> str:
        return f"predicted class {int(output[0, :4].argmax())}"


@hookimpl
def aa_components():
    return [Component("dataset", "toy_classes", ToyConfig, "aa_toy_task:Toy", "four classes of random vectors")]
