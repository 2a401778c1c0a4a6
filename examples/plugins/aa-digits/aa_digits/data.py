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
