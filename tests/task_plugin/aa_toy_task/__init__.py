"""A task plugin that is not Q→A: four classes of random vectors (the class is where the largest of the
first four features is). The dataset holds the data and describes and pictures examples and predictions; the
``toy_accuracy`` objective holds the loss and metrics; the model is any core pipeline that reads
``features``-wide inputs (``direct_embedding``). ``poison = N`` makes the first N training examples
NaN, to exercise the non-finite guard."""
from __future__ import annotations

import hashlib

import attrs
import torch
import torch.nn.functional as F

from aa_core.plugin import Component, hookimpl
from aa_core.protocols import Picture
from aa_core.run import Objective


@attrs.define
class ToyConfig:
    size: int = 64
    features: int = 8
    poison: int = 0

    def io_shapes(self) -> dict[str, list[int]]:
        return {"inputs": [self.features], "outputs": [4]}


class Toy:
    def __init__(self, config: ToyConfig, ctx: object = None):
        x = torch.randn(config.size, config.features, generator=torch.Generator().manual_seed(0))
        y = x[:, :4].argmax(1)
        n = config.size // 4
        train = x[2 * n:].clone()
        train[: config.poison] = float("nan")
        self.splits = {"train": (train, y[2 * n:]), "validation": (x[:n], y[:n]), "test": (x[n:2 * n], y[n:2 * n])}
        self.hash = hashlib.sha256(x.numpy().tobytes() + train.numpy().tobytes()).hexdigest()
        self.features = config.features

    def sizes(self) -> dict[str, int]:
        return {k: len(y) for k, (_, y) in self.splits.items()}

    def batch(self, split: str, index: torch.Tensor) -> dict[str, torch.Tensor]:
        x, y = self.splits[split]
        return {"inputs": x[index], "targets": y[index]}

    def describe(self, index: int, split: str) -> str:
        return f"{split} example {index}: class {int(self.splits[split][1][index])}"

    def describe_prediction(self, output: torch.Tensor) -> str:
        return f"predicted class {int(output[0, :4].argmax())}"

    # PicturedDataset: aa inspect draws input, target and prediction side by side
    def example_picture(self, index: int, split: str) -> dict[str, Picture]:
        x, y = self.splits[split]
        return {"input": Picture("sequence", x[index], caption=f"{self.features} features"),
                "target": Picture("scores", F.one_hot(y[index], 4), caption=f"class {int(y[index])}")}

    def prediction_picture(self, output: torch.Tensor, index: int, split: str) -> Picture:
        p = output[0, :4].float().softmax(-1)
        return Picture("scores", p, caption=f"predicted class {int(p.argmax())} (p = {float(p.max()):.2f})")

    # ServableDataset: aa serve's generic handler serves it (POST /v1/predict)
    def input_schema(self) -> dict:
        return {"description": f"a vector of {self.features} numbers", "type": "array", "items": {"type": "number"},
                "minItems": self.features, "maxItems": self.features}

    def parse_input(self, value: list[float]) -> torch.Tensor:
        x = torch.tensor(value, dtype=torch.float32)
        if x.shape != (self.features,) or not bool(torch.isfinite(x).all()):
            raise ValueError(f"give {self.features} finite numbers")
        return x

    def prediction(self, output: torch.Tensor, example: torch.Tensor) -> dict:
        p = output[0, :4].float().softmax(-1)
        return {"class": int(p.argmax()), "probabilities": [float(v) for v in p]}


class ToyAccuracy(Objective):
    """Cross-entropy of the first four outputs; accuracy and loss per split."""

    selection = ("val_accuracy", "max")
    metrics = ("val_accuracy", "val_loss")

    def __init__(self, config: object = None, ctx: object = None):
        pass

    def training_loss(self, model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return F.cross_entropy(model(batch["inputs"])[:, :4], batch["targets"])

    def split_metrics(self, model: torch.nn.Module, data: Toy, split: str) -> dict[str, float]:  # type: ignore[override]
        x, y = data.splits[split]
        logits = model(x)[:, :4]
        return {"accuracy": float((logits.argmax(1) == y).float().mean()), "loss": float(F.cross_entropy(logits, y))}


@attrs.define
class NoSettings:
    pass


@hookimpl
def aa_components():
    return [Component("dataset", "toy_classes", ToyConfig, "aa_toy_task:Toy", "four classes of random vectors",
                      defaults={"objective": "toy_accuracy"}),
            Component("objective", "toy_accuracy", NoSettings, "aa_toy_task:ToyAccuracy", "cross-entropy; accuracy and loss")]
