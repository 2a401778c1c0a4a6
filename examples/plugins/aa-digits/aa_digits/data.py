"""The ``digits8x8`` dataset: 1,797 images of 8×8 pixels (0..16 scaled to 0..1), ten classes."""
from __future__ import annotations

import hashlib

import torch
from sklearn.datasets import load_digits

from aa_core.protocols import Picture


class Digits:
    def __init__(self, config, ctx=None):
        data = load_digits()
        x = torch.tensor(data.data, dtype=torch.float32) / 16
        y = torch.tensor(data.target, dtype=torch.long)
        order = torch.randperm(len(y), generator=torch.Generator().manual_seed(config.seed))
        n_train, n_val = (round(f * len(y)) for f in config.split[:2])
        parts = order.split([n_train, n_val, len(y) - n_train - n_val])
        self.splits = {name: (x[idx], y[idx]) for name, idx in zip(("train", "validation", "test"), parts)}
        blob = [x.numpy().tobytes(), y.numpy().tobytes(), order.numpy().tobytes(), repr([len(p) for p in parts]).encode()]
        self.hash = hashlib.sha256(b"".join(blob)).hexdigest()  # the images, their classes and the split

    def sizes(self) -> dict[str, int]:
        return {name: len(y) for name, (_, y) in self.splits.items()}

    def batch(self, split: str, index: torch.Tensor) -> dict[str, torch.Tensor]:
        x, y = self.splits[split]
        return {"inputs": x[index], "targets": y[index]}

    # ---- PicturedDataset (aa inspect: input, target and prediction side by side) ----------------
    def example_picture(self, index: int, split: str) -> dict[str, Picture]:
        x, y = self.splits[split]
        return {"input": Picture("image", x[index].view(8, 8), caption="8×8 pixels"),
                "target": Picture("scores", torch.eye(10)[y[index]], caption=f"class {int(y[index])}")}

    def prediction_picture(self, output: torch.Tensor, index: int, split: str) -> Picture:
        p = output.detach().float()[0].softmax(-1)  # the class logits [1, 10]
        return Picture("scores", p, caption=f"predicted {int(p.argmax())} (p = {float(p.max()):.2f})")

    # ServableDataset: `aa serve` answers POST /v1/predict with it (no serving code of its own)
    def input_schema(self) -> dict:
        px = {"type": "number", "minimum": 0, "maximum": 1}
        return {"description": "an 8×8 image: 64 pixel values in [0, 1] (scikit-learn's 0–16 divided by 16), row by row, or 8 rows of 8",
                "oneOf": [{"type": "array", "items": px, "minItems": 64, "maxItems": 64},
                          {"type": "array", "items": {"type": "array", "items": px, "minItems": 8, "maxItems": 8}, "minItems": 8, "maxItems": 8}]}

    def parse_input(self, value) -> torch.Tensor:  # one image as the model reads it: [64]
        x = torch.tensor(value, dtype=torch.float32)
        if tuple(x.shape) not in ((64,), (8, 8)) or not bool(((x >= 0) & (x <= 1)).all()):
            raise ValueError("an image is 64 numbers in [0, 1], or 8 rows of 8")
        return x.reshape(64)

    def prediction(self, output: torch.Tensor, example) -> dict:  # class logits [1, 10] → class and probabilities
        p = output[0].float().softmax(-1)
        return {"class": int(p.argmax()), "probabilities": [round(float(v), 6) for v in p]}
