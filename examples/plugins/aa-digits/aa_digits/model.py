"""The ``face_consensus`` pipeline: each image is written onto the lattice's input face (pixel value
into channel 0, the image average-pooled to the face's shape; the cell's position on the face into
channels 1 and 2), the spec's propagator runs, and the class is the consensus of the output face:
the mean over its cells of one shared linear readout."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from aa_core.plugin import UserError


class FaceConsensus(nn.Module):
    input_cells: torch.Tensor  # buffers (registered in __init__), typed for the forward pass
    position: torch.Tensor

    def __init__(self, config, ctx):
        super().__init__()
        geometry, self.propagator = ctx.geometry, ctx.propagator
        self.num_cells, self.channels = geometry.num_cells, ctx.cell.channels
        self.register_buffer("input_cells", geometry.input_cells.clone(), persistent=False)
        self.register_buffer("output_cells", geometry.output_cells.clone(), persistent=False)
        (_, Y, Z), ids = geometry.size, self.input_cells
        coords = (ids // (Y * Z), ids // Z % Y, ids % Z)  # raster order: id = (x·Y + y)·Z + z
        self.face = tuple(s for s, c in zip(geometry.size, coords) if bool((c != c[0]).any()))
        if len(self.face) != 2 or self.channels < 3:
            raise UserError(f"{ctx.spec.source}: the face_consensus pipeline needs a two-dimensional input face (got {self.face}; e.g. [geometry] size = [8, 8, 2], input_face = \"z0\") and cell.channels >= 3 (got {self.channels})")
        grid = torch.meshgrid(torch.linspace(-1, 1, self.face[0]), torch.linspace(-1, 1, self.face[1]), indexing="ij")
        self.register_buffer("position", torch.stack(grid, -1).reshape(-1, 2), persistent=False)
        self.readout = nn.Linear(self.channels, config.classes)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        """Images ``[B, 64]`` → class logits ``[B, classes]``."""
        B = inputs.shape[0]
        image = F.adaptive_avg_pool2d(inputs.view(B, 1, 8, 8), self.face).reshape(B, -1)
        state = inputs.new_zeros(B, self.num_cells, self.channels)
        state[:, self.input_cells, 0] = image
        state[:, self.input_cells, 1:3] = self.position  # each input cell knows where it is
        state = self.propagator(state)
        return self.readout(state[:, self.output_cells]).mean(1)  # each cell votes; the consensus decides

    def training_loss(self, batch: dict[str, torch.Tensor], settings) -> torch.Tensor:
        """The Pipeline contract's loss on ``example_batch`` (the kit's check); training uses the objective."""
        return F.cross_entropy(self(batch["inputs"]), batch["targets"])

    def example_batch(self, size: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
        return {"inputs": torch.rand(size, 64, generator=generator),
                "targets": torch.randint(0, self.readout.out_features, (size,), generator=generator)}
