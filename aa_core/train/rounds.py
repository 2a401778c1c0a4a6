"""Which training examples each step takes: epochs or rounds of steps, shuffled or in stored order."""
from __future__ import annotations

import math
from typing import Any

import torch

from .state import Progress


class Rounds:
    """Epochs (every example once per epoch, the last batch smaller) or, with ``steps``, rounds of
    ``eval_every`` full batches from a running order. ``shuffle`` (default) draws a fresh permutation
    per epoch (per pass with ``steps``) from the seeded generator; ``shuffle = false`` takes the stored
    order, consecutive batches wrapping around (the MNIST-1D paper's loop)."""

    def __init__(self, n: int, cfg: Any, gen: torch.Generator):
        self.n, self.cfg, self.gen = n, cfg, gen
        self.by_steps = cfg.steps is not None
        self.count = math.ceil(cfg.steps / cfg.eval_every) if self.by_steps else cfg.epochs
        self.total = cfg.steps if self.by_steps else cfg.epochs * max(1, math.ceil(n / cfg.batch_size))

    def _order(self) -> torch.Tensor:
        return torch.randperm(self.n, generator=self.gen) if self.cfg.shuffle else torch.arange(self.n)

    def length(self, r: int) -> int:
        """Steps in round ``r``."""
        if self.by_steps:
            return min(self.cfg.eval_every, self.cfg.steps - r * self.cfg.eval_every)
        return len(range(0, self.n, self.cfg.batch_size))

    def begin(self, p: Progress) -> None:
        if not self.by_steps and (p.batch == 0 or p.order is None):
            p.order, p.run_loss, p.seen, p.batch = self._order(), 0.0, 0, 0
        elif self.by_steps and p.batch == 0:
            p.run_loss, p.seen = 0.0, 0

    def indices(self, p: Progress, b: int) -> torch.Tensor:
        bs = self.cfg.batch_size
        if not self.by_steps:
            assert p.order is not None
            return p.order[b * bs : (b + 1) * bs]
        if not self.cfg.shuffle:  # consecutive batches of the stored order, wrapping around
            if p.order is None:
                p.order = torch.arange(self.n)
            idx = p.order[(p.cursor + torch.arange(min(bs, self.n))) % self.n]
            p.cursor = (p.cursor + len(idx)) % self.n
            return idx
        if p.order is None or p.cursor + min(bs, self.n) > self.n:
            p.order, p.cursor = self._order(), 0
        idx = p.order[p.cursor : p.cursor + bs]
        p.cursor += len(idx)
        return idx

    def end(self, p: Progress, r: int) -> None:
        p.epoch, p.batch = r + 1, 0
        if not self.by_steps:
            p.order = None
