"""The ``mnist1d`` dataset: MNIST-1D generated offline from PyPI ``mnist1d`` (Greydanus & Kobak, ICML 2024).

``make_dataset(get_dataset_args())`` with its default seed 42 gives 4,000 training and 1,000 test
sequences of length 40; ``get_dataset`` is never called (it tries a download first). The last
``validation`` training sequences form the validation split (default 500: 3,500 / 500 / 1,000).
Batches: ``inputs [B, 40, 1]`` float, ``targets [B]`` long. The maths (consensus cross-entropy,
accuracy) is the ``mnist1d_consensus`` objective (:mod:`aa_ca.mnist1d_objective`).
"""
from __future__ import annotations

import functools
import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from aa_core.plugin import UserError, atomic_path
from aa_core.protocols import Picture

from ._extras import require
from .classifier import consensus_logits
from .classifier_config import Mnist1DConfig

require("mnist1d", "the mnist1d dataset (aa_ca.mnist1d_task: generates MNIST-1D with PyPI mnist1d)")

CACHE_DIR = Path(".aa_cache/mnist1d")
SPLIT_NAMES = {"validation": "val"}  # as aa inspect's --split names them
CLASSES = 10


@functools.lru_cache(maxsize=4)
def generate(seed: int = 42, shuffle: bool = False) -> dict[str, np.ndarray]:
    """The MNIST-1D arrays of ``make_dataset`` (no download); ``shuffle``: the spatially shuffled variant.

    Generating takes seconds to a minute, so the arrays are kept in ``.aa_cache/mnist1d/`` (keyed by
    the package version and the arguments; written atomically) and in memory.
    """
    from importlib.metadata import version

    from mnist1d.data import get_dataset_args, make_dataset

    cache = CACHE_DIR / f"mnist1d-{version('mnist1d')}-seed{seed}-{'shuffled' if shuffle else 'plain'}.npz"
    if cache.is_file():
        try:
            with np.load(cache) as z:
                return {k: z[k] for k in ("x", "y", "x_test", "y_test")}
        except (OSError, ValueError, KeyError):
            pass  # a damaged cache is rebuilt below
    args = get_dataset_args()
    args.seed = seed
    args.shuffle_seq = shuffle
    data = make_dataset(args)
    out = {k: np.asarray(data[k]) for k in ("x", "y", "x_test", "y_test")}
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(cache) as tmp:
            with open(tmp, "wb") as f:
                np.savez(f, x=out["x"], y=out["y"], x_test=out["x_test"], y_test=out["y_test"])
    except OSError:
        pass  # a read-only folder only costs the cache
    return out


class Mnist1D:
    def __init__(self, config: Mnist1DConfig):
        data = generate(config.seed, config.shuffle)
        x, y = data["x"].astype(np.float32), data["y"].astype(np.int64)
        if config.validation >= len(y):
            raise UserError(f"dataset.validation = {config.validation} leaves no training data (MNIST-1D has {len(y)} "
                            "training sequences); use a smaller number, e.g. 500")
        cut = len(y) - config.validation
        self.splits = {
            "train": (torch.from_numpy(x[:cut]), torch.from_numpy(y[:cut])),
            "validation": (torch.from_numpy(x[cut:]), torch.from_numpy(y[cut:])),
            "test": (torch.from_numpy(data["x_test"].astype(np.float32)), torch.from_numpy(data["y_test"].astype(np.int64))),
        }
        h = hashlib.sha256()
        for xs, ys in self.splits.values():
            h.update(xs.numpy().tobytes())
            h.update(ys.numpy().tobytes())
        self.hash = h.hexdigest()[:16]
        self.length = x.shape[1]

    def sizes(self) -> dict[str, int]:
        return {name: len(ys) for name, (_, ys) in self.splits.items()}

    def batch(self, split: str, index: torch.Tensor) -> dict[str, Any]:
        xs, ys = self.splits[split]
        return {"inputs": xs[index].unsqueeze(-1), "targets": ys[index]}

    # ---- DescribedDataset (aa inspect) -----------------------------------------------------------
    def describe(self, index: int, split: str) -> str:
        return f"MNIST-1D {SPLIT_NAMES.get(split, split)} #{index}: class {int(self.splits[split][1][index])}"

    def describe_prediction(self, output: torch.Tensor) -> str:
        """The consensus class of the pipeline's logits ``[1, N, K]`` (or ``[1, K]``) and its softmax probability."""
        p = consensus_logits(output.detach().float())[0].softmax(-1)
        k = int(p.argmax())
        return f"predicted class {k} (p={float(p[k]):.2f})"

    # ---- PicturedDataset (aa inspect: input, target and prediction side by side) -----------------
    def example_picture(self, index: int, split: str) -> dict[str, Picture]:
        """The sequence (a curve over its ``length`` positions) and its class (one-hot over the ten)."""
        xs, ys = self.splits[split]
        y = int(ys[index])
        return {"input": Picture("sequence", xs[index], caption=f"{self.length} values"),
                "target": Picture("scores", F.one_hot(ys[index], CLASSES), caption=f"class {y}")}

    def prediction_picture(self, output: torch.Tensor, index: int, split: str) -> Picture:
        """The softmax of the consensus logits (the mean of the cells' logits ``[1, N, K]``, or ``[1, K]``)."""
        p = consensus_logits(output.detach().float())[0].softmax(-1)
        return Picture("scores", p, caption=f"predicted class {int(p.argmax())} (p={float(p.max()):.2f})")

    # ---- ServableDataset (aa serve's POST /v1/predict) -----------------------------------------
    def input_schema(self) -> dict[str, Any]:
        """One sequence of ``length`` (40) numbers."""
        return {"description": f"an MNIST-1D sequence: {self.length} numbers", "type": "array", "items": {"type": "number"},
                "minItems": self.length, "maxItems": self.length}

    def parse_input(self, value: Any) -> torch.Tensor:
        """The sequence as the pipeline reads it: ``[length, 1]``."""
        try:
            x = torch.tensor(value, dtype=torch.float32)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"not a sequence of numbers ({exc})") from None
        if tuple(x.shape) != (self.length,) or not bool(torch.isfinite(x).all()):
            raise ValueError(f"an MNIST-1D sequence is {self.length} finite numbers, got shape {list(x.shape)}")
        return x.unsqueeze(-1)

    def prediction(self, output: torch.Tensor, example: Any) -> dict[str, Any]:
        """The consensus class of the logits ``[1, N, K]`` (or ``[1, K]``) and the classes' probabilities."""
        p = consensus_logits(output.detach().float())[0].softmax(-1)
        return {"class": int(p.argmax()), "probabilities": [round(float(v), 6) for v in p]}


def build(config: Mnist1DConfig, ctx: Any) -> Mnist1D:
    return Mnist1D(config)
