"""The Growing-NCA sample pool (Mordvintsev et al. 2020, Experiments 2 and 3).

The pool holds ``size`` lattice states, all the seed at first. Training samples a batch of them,
grows each for T steps and writes the results back, so the model also learns to keep a grown
pattern stable (persistence). After each step the worst-loss state of the batch goes back to the
seed (growth is never forgotten) and the ``damage`` best ones lose a ball of cells (regeneration).
The pool's random choices come from its own generator, saved with the pool, so a resumed run
damages exactly as an uninterrupted one.
"""
from __future__ import annotations

import torch


def ball_mask(shape: tuple[int, int, int], centre: torch.Tensor, radius: float) -> torch.Tensor:
    """``[X, Y, Z]`` bool: cells within ``radius`` (in cells) of ``centre`` (a disk when Z = 1)."""
    axes = [torch.arange(n, dtype=torch.float32) for n in shape]
    gx, gy, gz = torch.meshgrid(*axes, indexing="ij")
    c = centre.float()
    return (gx - c[0]) ** 2 + (gy - c[1]) ** 2 + (gz - c[2]) ** 2 <= radius**2


class SamplePool:
    """``size`` states ``[N, C]`` of a ``shape`` = (X, Y, Z) lattice grown from ``seed``.

    ``centres`` ``[M, 3]`` are the cells a damage ball may be centred on (the target's cells);
    radii are drawn from ``radius`` = (lo, hi), fractions of ``extent`` (the target's smallest side).
    """

    def __init__(self, seed: torch.Tensor, size: int, shape: tuple[int, int, int], centres: torch.Tensor,
                 extent: float, damage: int = 0, radius: tuple[float, float] = (0.1, 0.4), rng_seed: int = 0):
        self.seed = seed.clone()
        self.shape = shape
        self.states = seed.unsqueeze(0).repeat(size, 1, 1)
        self.centres = centres
        self.extent = extent
        self.damage_count = damage
        self.radius = radius
        self.generator = torch.Generator().manual_seed(rng_seed)

    def __len__(self) -> int:
        return len(self.states)

    def sample(self, index: torch.Tensor) -> torch.Tensor:
        return self.states[index].clone()

    def damage(self, states: torch.Tensor) -> torch.Tensor:
        """Zero one random ball of cells in each state ``[b, N, C]`` (a copy)."""
        out = states.clone()
        lo, hi = self.radius
        for i in range(len(out)):
            centre = self.centres[torch.randint(len(self.centres), (), generator=self.generator)]
            r = (lo + (hi - lo) * torch.rand((), generator=self.generator).item()) * self.extent
            out[i, ball_mask(self.shape, centre, r).flatten()] = 0
        return out

    def write_back(self, index: torch.Tensor, states: torch.Tensor, losses: torch.Tensor) -> None:
        """Store the grown ``states [B, N, C]``; the worst (highest ``losses``) becomes the seed,
        the ``damage`` lowest-loss others are damaged."""
        index = index.cpu()
        states = states.detach().to(self.states, copy=True)  # a copy: the caller's tensor stays as grown
        order = torch.argsort(losses.detach().cpu(), descending=True)  # worst first
        states[order[0]] = self.seed
        n = min(self.damage_count, len(order) - 1)
        if n > 0:
            best = order[len(order) - n:]
            states[best] = self.damage(states[best])
        self.states[index] = states

    def state_tensors(self) -> dict[str, torch.Tensor]:
        return {"pool": self.states.clone(), "pool_rng": self.generator.get_state()}

    def load_state_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        pool = tensors["pool"]
        if pool.shape != self.states.shape:
            raise ValueError(f"sample pool: saved pool has shape {tuple(pool.shape)}, this one {tuple(self.states.shape)}")
        self.states = pool.clone().to(self.states.dtype)
        if "pool_rng" in tensors:
            self.generator.set_state(tensors["pool_rng"])
