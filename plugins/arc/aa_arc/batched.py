"""Many small NCAs as one computation: per-model weights stacked on a leading dimension.

``M`` models (two attempts × the tasks of a group) run on ``P`` grids each (a task's demonstration
pairs or test inputs, padded to the group's largest count), every grid padded to a common ``H × W``
canvas. State: 10 one-hot colour channels (the input grid written in) + ``hidden`` channels, beside a
fixed "inside the grid" channel. Perception is fixed and depthwise — identity, Sobel x, Sobel y and
the Laplacian of every channel (``conv2d`` with ``groups``) — so only the per-cell update MLP is
learnt: ``4·C → width → 10 + hidden`` with ReLU, its weights ``[M, in, out]`` applied with
``torch.baddbmm`` / ``torch.bmm``, the last layer zero at the start (a fresh NCA keeps its input).
Cells outside a grid are reset to zero after every step, so a grid sees zero padding around it
whatever the canvas, and they are ignored by the loss.
"""
from __future__ import annotations

from abc import ABC, abstractmethod

import torch
import torch.nn.functional as F

COLOURS = 10
IGNORE = -100


def perception_kernel(channels: int) -> torch.Tensor:
    """``[4·channels, 1, 3, 3]``: identity, Sobel x, Sobel y, Laplacian for each channel (grouped conv)."""
    ident = torch.tensor([[0, 0, 0], [0, 1, 0], [0, 0, 0]], dtype=torch.float32)
    sx = torch.tensor([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=torch.float32) / 8
    lap = torch.tensor([[1, 2, 1], [2, -12, 2], [1, 2, 1]], dtype=torch.float32) / 16
    k = torch.stack([ident, sx, sx.T, lap])  # [4, 3, 3]
    return k.repeat(channels, 1, 1).unsqueeze(1)


class StackedNCAs(ABC):
    """Several NCAs whose parameters are stacked ``[M, ...]``: the bookkeeping every stacked model shares."""

    @abstractmethod
    def parameters(self) -> list[torch.Tensor]:
        """The stacked trainable tensors ``[M, ...]`` (what the optimiser steps)."""

    def n_params(self) -> int:
        """Trainable parameters of one NCA."""
        return sum(p[0].numel() for p in self.parameters())

    def state_dict(self) -> list[torch.Tensor]:
        return [p.detach().clone() for p in self.parameters()]


class BatchedNCA(StackedNCAs):
    """One independent NCA per seed, weights stacked (plain tensors; :meth:`parameters` for the optimiser)."""

    def __init__(self, seeds: list[int], hidden: int, width: int):
        models = len(seeds)
        self.models, self.hidden, self.width = models, hidden, width
        self.state_channels = COLOURS + hidden
        self.channels = self.state_channels + 1  # + the fixed "inside the grid" channel
        fan_in = 4 * self.channels
        # each NCA's initial weights come from its own seed: a task's result does not depend on its group
        w1 = torch.stack([torch.randn(fan_in, width, generator=torch.Generator().manual_seed(s)) for s in seeds])
        self.w1 = (w1 / fan_in ** 0.5).requires_grad_()
        self.b1 = torch.zeros(models, 1, width, requires_grad=True)
        self.w2 = torch.zeros(models, width, self.state_channels, requires_grad=True)
        self.kernel = perception_kernel(self.channels)

    def parameters(self) -> list[torch.Tensor]:
        return [self.w1, self.b1, self.w2]

    def forward(self, colours: torch.Tensor, steps: int, fire_rate: float = 1.0,
                generator: torch.Generator | None = None) -> torch.Tensor:
        """Colour logits ``[M, P, 10, H, W]`` after ``steps`` steps from grids ``colours [M, P, H, W]`` (−1 outside a grid)."""
        m, p, h, w = colours.shape
        inside = (colours >= 0).to(torch.float32).view(m * p, 1, h, w)
        state = F.one_hot(colours.clamp_min(0), COLOURS).permute(0, 1, 4, 2, 3).to(torch.float32).reshape(m * p, COLOURS, h, w)
        state = torch.cat([state, state.new_zeros(m * p, self.hidden, h, w)], 1) * inside
        for _ in range(steps):
            perceived = F.conv2d(torch.cat([state, inside], 1), self.kernel, padding=1, groups=self.channels)
            feats = perceived.view(m, p, -1, h * w).permute(0, 1, 3, 2).reshape(m, p * h * w, -1)
            delta = torch.bmm(torch.relu(torch.baddbmm(self.b1, feats, self.w1)), self.w2)  # [M, P·H·W, C]
            delta = delta.view(m, p, h, w, -1).permute(0, 1, 4, 2, 3).reshape(m * p, -1, h, w)
            if fire_rate < 1.0:
                fire = torch.rand(m * p, 1, h, w, generator=generator) < fire_rate
                delta = delta * fire
            state = (state + delta) * inside
        return state[:, :COLOURS].view(m, p, COLOURS, h, w)


def per_model_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy over each model's valid cells: ``[M]`` (targets ``[M, P, H, W]``, −100 ignored)."""
    m, p, c, h, w = logits.shape
    ce = F.cross_entropy(logits.reshape(m * p, c, h, w), targets.reshape(m * p, h, w), ignore_index=IGNORE, reduction="none")
    valid = (targets != IGNORE).view(m, -1)
    return ce.view(m, -1).sum(1) / valid.sum(1).clamp_min(1)


def exact_pairs(logits: torch.Tensor, targets: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """Demonstration grids exactly right per model ``[M]`` (``real [M, P]``: the pair exists)."""
    wrong = (logits.argmax(2) != targets) & (targets != IGNORE)
    return ((~wrong.flatten(2).any(2)) & real).sum(1)


def normalise_gradients(params: list[torch.Tensor]) -> None:
    """Each model's gradient of each tensor scaled to unit norm (models stay independent)."""
    for p in params:
        if p.grad is not None:
            norm = p.grad.flatten(1).norm(dim=1).clamp_min(1e-8)
            p.grad /= norm.view(-1, *([1] * (p.grad.dim() - 1)))
