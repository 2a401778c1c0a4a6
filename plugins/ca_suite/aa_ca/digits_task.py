"""The ``digits`` dataset: self-classifying 8×8 digits (Randazzo et al., Distill 2020, on scikit-learn's digits).

Each image (pixels / 16, in [0, 1]) is written onto an 8×8×1 lattice, one pixel per cell; a cell
is alive when its pixel is > 0, dead cells stay zero, and every alive cell outputs the digit's
class (the pipeline's per-cell logits). Batches: ``inputs [B, 64, 1]``, ``mask [B, 64]``,
``targets [B]``; from the sample pool also ``state [B, N, C]``, ``fresh [B]`` and ``index [B]``.

A SampledDataset: after each step the roll-out's final states (``batch["final_state"]``, left by
the ``digits_self_classify`` objective, :mod:`aa_ca.digits_objective`) go back into the pool, and
``replace`` of the batch's entries restart from a fresh digit.
"""
from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
import torch

from aa_core.protocols import Picture

from ._extras import require
from .classifier_config import DigitsConfig

require("digits", "the digits dataset (aa_ca.digits_task: scikit-learn's 8×8 digits)")

SIDE = 8
DIGITS = tuple(str(d) for d in range(10))  # the class names of pictures


def load() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's digits (shipped with the package, no download): images ``[1797, 64]`` in [0, 1], labels."""
    from sklearn.datasets import load_digits

    d = load_digits()
    return (d.images.reshape(len(d.images), -1) / 16.0).astype(np.float32), d.target.astype(np.int64)


class Digits:
    def __init__(self, config: DigitsConfig):
        self.config = config
        x, y = load()
        perm = np.random.default_rng(config.split_seed).permutation(len(y))
        n_test, n_val = round(config.test * len(y)), round(config.validation * len(y))
        parts = {"test": perm[:n_test], "validation": perm[n_test: n_test + n_val], "train": perm[n_test + n_val:]}
        self.splits = {k: (torch.from_numpy(x[v]), torch.from_numpy(y[v])) for k, v in parts.items()}
        h = hashlib.sha256()
        for k in ("train", "validation", "test"):
            h.update(parts[k].tobytes())
        h.update(x.tobytes())
        self.hash = h.hexdigest()[:16]
        P = config.pool_size
        gen = torch.Generator().manual_seed(config.split_seed + 1)
        self.pool_digit = torch.randint(0, len(parts["train"]), (P,), generator=gen)
        self.pool_fresh = torch.ones(P, dtype=torch.bool)
        self.pool_state: torch.Tensor | None = None  # [P, N, C], allocated by setup (C is the model's)
        self.described_mask: torch.Tensor | None = None  # the alive cells of the example describe() named last

    def sizes(self) -> dict[str, int]:
        n = {k: len(v[1]) for k, v in self.splits.items()}
        if self.config.pool_size > 0:
            n["train"] = self.config.pool_size
        return n

    def _digits(self, split: str, index: torch.Tensor) -> dict[str, Any]:
        xs, ys = self.splits[split]
        x = xs[index]
        return {"inputs": x.unsqueeze(-1), "mask": x > 0, "targets": ys[index]}

    def batch(self, split: str, index: torch.Tensor) -> dict[str, Any]:
        if split != "train" or self.config.pool_size == 0:
            return self._digits(split, index)
        out = self._digits("train", self.pool_digit[index])
        out["index"] = index
        out["fresh"] = self.pool_fresh[index].clone()
        if self.pool_state is not None:
            out["state"] = self.pool_state[index].clone()
        return out

    # ---- DescribedDataset (aa inspect) -----------------------------------------------------------
    def describe(self, index: int, split: str) -> str:
        """The true digit of example ``index`` (a training index names a pool entry, started afresh);
        its alive cells are kept for :meth:`describe_prediction`."""
        b = self.batch(split, torch.tensor([index]))
        mask = b["mask"][0]
        self.described_mask = mask
        name = "val" if split == "validation" else split
        pool = " (sample-pool entry, from a fresh start)" if split == "train" and self.config.pool_size > 0 else ""
        return f"digits {name} #{index}{pool}: digit {int(b['targets'][0])}, {int(mask.sum())} alive cells of {mask.numel()}"

    def describe_prediction(self, output: torch.Tensor) -> str:
        """The consensus class of the cells' logits ``[1, N, K]`` (the class most alive cells name) and the
        agreement (the share of alive cells naming it). The alive cells are those of the example last
        described; without one, the cells whose logits are not all zero (dead cells are held at zero)."""
        logits = output.detach().float()[0]
        alive = self.described_mask
        if alive is None or alive.numel() != logits.shape[0]:
            alive = (logits != 0).any(-1)
        if not bool(alive.any()):
            alive = torch.ones(logits.shape[0], dtype=torch.bool)
        counts = torch.bincount(logits[alive].argmax(-1), minlength=logits.shape[-1])
        k, n = int(counts.argmax()), int(alive.sum())
        return f"consensus class {k}: {int(counts[k])} of {n} alive cells agree ({100 * int(counts[k]) / n:.0f}%)"

    # ---- PicturedDataset (aa inspect: input, target and prediction side by side) -----------------
    def example_picture(self, index: int, split: str) -> dict[str, Picture]:
        """The image, and every alive cell coloured by the digit it should name (dead cells empty)."""
        b = self.batch(split, torch.tensor([index]))
        y, alive = int(b["targets"][0]), b["mask"][0]
        target = torch.where(alive, y, -1).view(SIDE, SIDE)
        return {"input": Picture("image", b["inputs"][0, :, 0].view(SIDE, SIDE), caption=f"{int(alive.sum())} alive cells"),
                "target": Picture("classes", target, caption=f"digit {y} in every alive cell", names=DIGITS)}

    def prediction_picture(self, output: torch.Tensor, index: int, split: str) -> Picture:
        """Every alive cell coloured by the class it names (the cells' logits ``[1, 64, K]``), and the consensus."""
        alive = self.batch(split, torch.tensor([index]))["mask"][0]
        named = output.detach().float()[0].argmax(-1)
        if named.numel() != alive.numel():
            return Picture("classes", named, caption="the class each read cell names", names=DIGITS)
        counts = torch.bincount(named[alive], minlength=len(DIGITS))
        k = int(counts.argmax())
        caption = f"consensus {k}: {int(counts[k])} of {int(alive.sum())} cells agree"
        return Picture("classes", torch.where(alive, named, -1).view(SIDE, SIDE), caption=caption, names=DIGITS)

    # ---- ServableDataset (aa serve's POST /v1/predict) -----------------------------------------
    def input_schema(self) -> dict[str, Any]:
        """One image: 64 pixel values in [0, 1], row by row, or 8 rows of 8 (cells of zero pixels are dead)."""
        pixel = {"type": "number", "minimum": 0, "maximum": 1}
        return {"description": "an 8×8 image: 64 pixel values in [0, 1] (scikit-learn's 0–16 divided by 16), row by row, or 8 rows "
                               "of 8; cells of zero pixels are dead",
                "oneOf": [{"type": "array", "items": pixel, "minItems": SIDE * SIDE, "maxItems": SIDE * SIDE},
                          {"type": "array", "minItems": SIDE, "maxItems": SIDE,
                           "items": {"type": "array", "items": pixel, "minItems": SIDE, "maxItems": SIDE}}]}

    def parse_input(self, value: Any) -> dict[str, Any]:
        """The image as validation runs it: ``inputs [64, 1]``, its alive cells ``mask [64]``, ``eval_steps`` steps."""
        try:
            x = torch.tensor(value, dtype=torch.float32)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"not an image of numbers ({exc})") from None
        if tuple(x.shape) not in ((SIDE * SIDE,), (SIDE, SIDE)):
            raise ValueError(f"an image has shape {list(x.shape)}; give {SIDE * SIDE} numbers or {SIDE} rows of {SIDE}")
        if not bool(torch.isfinite(x).all()) or float(x.min()) < 0 or float(x.max()) > 1:
            raise ValueError("pixel values are numbers in [0, 1] (scikit-learn's 0–16 divided by 16)")
        x = x.reshape(-1)
        if not bool((x > 0).any()):
            raise ValueError("the image is blank: every cell would be dead, so no cell names a digit")
        return {"inputs": x.unsqueeze(-1), "mask": x > 0, "steps": int(self.config.eval_steps)}

    def prediction(self, output: torch.Tensor, example: Any) -> dict[str, Any]:
        """The class each alive cell names (``cells``: 8 rows of 8, null where dead), the consensus (the class most
        alive cells name) and the agreement (the share of alive cells naming it)."""
        logits = output.detach().float()[0]
        alive = example["mask"]
        named = logits.argmax(-1)
        counts = torch.bincount(named[alive], minlength=logits.shape[-1])
        k = int(counts.argmax())
        cells = [int(c) if a else None for c, a in zip(named.tolist(), alive.tolist())]
        return {"class": k, "agreement": round(int(counts[k]) / max(int(alive.sum()), 1), 6),
                "votes": counts.tolist(), "cells": [cells[r * SIDE:(r + 1) * SIDE] for r in range(SIDE)]}

    # ---- the sample pool (SampledDataset, FittedDataset) -----------------------------------------
    def setup(self, model: torch.nn.Module, ctx: Any) -> None:
        if self.config.pool_size > 0 and self.pool_state is None:
            n = model.geometry.num_cells  # type: ignore[union-attr]
            self.pool_state = torch.zeros(self.config.pool_size, n, int(model.channels))  # type: ignore[arg-type]

    def after_step(self, batch: dict[str, Any], model: torch.nn.Module) -> None:
        if self.config.pool_size == 0 or self.pool_state is None or "final_state" not in batch:
            return
        index = batch["index"]
        self.pool_state[index] = batch["final_state"].to(self.pool_state.dtype)
        self.pool_fresh[index] = False
        k = min(self.config.replace, len(index))
        if k:
            chosen = index[torch.randperm(len(index))[:k]]
            self.pool_digit[chosen] = torch.randint(0, len(self.splits["train"][1]), (k,))
            self.pool_fresh[chosen] = True

    def state_tensors(self) -> dict[str, torch.Tensor]:
        out = {"pool_digit": self.pool_digit, "pool_fresh": self.pool_fresh}
        if self.pool_state is not None:
            out["pool_state"] = self.pool_state
        return out

    def load_state_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        self.pool_digit = tensors["pool_digit"].clone()
        self.pool_fresh = tensors["pool_fresh"].clone()
        if "pool_state" in tensors:
            self.pool_state = tensors["pool_state"].clone()


def build(config: DigitsConfig, ctx: Any) -> Digits:
    return Digits(config)
