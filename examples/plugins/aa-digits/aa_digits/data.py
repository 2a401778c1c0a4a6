"""The ``digits8x8`` dataset: 1,797 images of 8×8 pixels (0..16 scaled to 0..1), ten classes."""
from __future__ import annotations

import hashlib

import torch
from sklearn.datasets import load_digits


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

    # ---- ServableDataset (aa serve's POST /v1/predict) -----------------------------------------
    def input_schema(self) -> dict:
        """One image: 64 pixel values in [0, 1], row by row, or 8 rows of 8."""
        pixel = {"type": "number", "minimum": 0, "maximum": 1}
        return {"description": "an 8×8 image: 64 pixel values in [0, 1] (scikit-learn's 0–16 divided by 16), row by row, or 8 rows of 8",
                "oneOf": [{"type": "array", "items": pixel, "minItems": 64, "maxItems": 64},
                          {"type": "array", "minItems": 8, "maxItems": 8,
                           "items": {"type": "array", "items": pixel, "minItems": 8, "maxItems": 8}}]}

    def parse_input(self, value) -> torch.Tensor:
        """The image as the model reads it: ``[64]`` floats."""
        try:
            x = torch.tensor(value, dtype=torch.float32)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"not an image of numbers ({exc})") from None
        if tuple(x.shape) not in ((64,), (8, 8)):
            raise ValueError(f"an image has shape {list(x.shape)}; give 64 numbers or 8 rows of 8")
        if not bool(torch.isfinite(x).all()) or float(x.min()) < 0 or float(x.max()) > 1:
            raise ValueError("pixel values are numbers in [0, 1] (scikit-learn's 0–16 divided by 16)")
        return x.reshape(64)

    def prediction(self, output: torch.Tensor, example) -> dict:
        """The class logits ``[1, 10]`` → the class and the probabilities of the ten classes."""
        p = output.detach().float()[0].softmax(-1)
        return {"class": int(p.argmax()), "probabilities": [round(float(v), 6) for v in p]}
