"""The ``flat_mlp`` pipeline: the non-lattice baseline any fixed-shape task is compared against.

``inputs [B, *in]`` → flatten → Linear → act → … → Linear → ``[B, *out]``, the shapes of one
example and of the prediction the task's objective reads (the dataset's ``io_shapes()``, or
``[pipeline] inputs`` / ``outputs``). ``aa sweep --case 'mlp: pipeline={name="flat_mlp"}'
--match-params pipeline.hidden`` sizes it to the lattice's parameter count.
"""
from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from .._errors import UserError
from ..protocols import ShapedDatasetConfig
from .configs import FlatMLPConfig

_ACT = {"relu": nn.ReLU, "gelu": nn.GELU, "tanh": nn.Tanh}


def io_shapes(config: FlatMLPConfig, ctx: Any) -> tuple[list[int], list[int]]:
    """(one example's input shape, the prediction's shape): the config's, else the dataset config's."""
    declared = ctx.spec.config("dataset")
    shapes = declared.io_shapes() if isinstance(declared, ShapedDatasetConfig) else {}
    inputs, outputs = config.inputs or shapes.get("inputs"), config.outputs or shapes.get("outputs")
    if not inputs or not outputs:
        raise UserError(f"{ctx.spec.source}: the flat_mlp pipeline needs the shape of one example and of its prediction: set "
                        "pipeline.inputs and pipeline.outputs (e.g. inputs = [40, 1], outputs = [10]), or use a dataset whose "
                        "config declares io_shapes()")
    return list(inputs), list(outputs)


class FlatMLP(nn.Module):
    def __init__(self, config: FlatMLPConfig, ctx: Any):
        super().__init__()
        self.inputs, self.outputs = io_shapes(config, ctx)
        widths = [math.prod(self.inputs), *config.hidden]
        layers: list[nn.Module] = []
        for a, b in zip(widths[:-1], widths[1:]):
            layers += [nn.Linear(a, b), _ACT[config.activation]()]
        self.net = nn.Sequential(*layers, nn.Linear(widths[-1], math.prod(self.outputs)))

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        """``[B, *in]`` → ``[B, *out]``."""
        return self.net(inputs.reshape(inputs.shape[0], -1).float()).view(inputs.shape[0], *self.outputs)

    def example_batch(self, size: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
        return {"inputs": torch.randn(size, *self.inputs, generator=generator),
                "targets": torch.randn(size, *self.outputs, generator=generator)}


def build(config: FlatMLPConfig, ctx: Any) -> FlatMLP:
    return FlatMLP(config, ctx)
