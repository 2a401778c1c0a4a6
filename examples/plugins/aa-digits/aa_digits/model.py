"""The ``face_consensus`` pipeline: each image is written onto the lattice's input face (pixel value
into channel 0, the image average-pooled to the face's shape; the cell's position on the face into
channels 1 and 2), the spec's propagator runs, and the class is the consensus of the output face:
the mean over its cells of one shared linear readout."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from aa_core.plugin import UserError


class FaceConsensus(nn.Module):  # a LatticePipeline (write → propagate → read): aa inspect pictures it
    input_cells: torch.Tensor  # buffers (registered in __init__), typed for the forward pass
    position: torch.Tensor

    def __init__(self, config, ctx):
        super().__init__()
        self.geometry, self.propagator = ctx.geometry, ctx.propagator
        self.num_cells, self.channels = self.geometry.num_cells, ctx.cell.channels
        self.register_buffer("input_cells", self.geometry.input_cells.clone(), persistent=False)
        self.register_buffer("output_cells", self.geometry.output_cells.clone(), persistent=False)
        (_, Y, Z), ids = self.geometry.size, self.input_cells
        coords = (ids // (Y * Z), ids // Z % Y, ids % Z)  # raster order: id = (x·Y + y)·Z + z
        self.face = tuple(s for s, c in zip(self.geometry.size, coords) if bool((c != c[0]).any()))
        if len(self.face) != 2 or self.channels < 3:
            raise UserError(f"{ctx.spec.source}: the face_consensus pipeline needs a two-dimensional input face (got {self.face}; e.g. [geometry] size = [8, 8, 2], input_face = \"z0\") and cell.channels >= 3 (got {self.channels})")
        grid = torch.meshgrid(torch.linspace(-1, 1, self.face[0]), torch.linspace(-1, 1, self.face[1]), indexing="ij")
        self.register_buffer("position", torch.stack(grid, -1).reshape(-1, 2), persistent=False)
        self.vote = nn.Linear(self.channels, config.classes)

    def initial_state(self, inputs: torch.Tensor) -> torch.Tensor:
        """Images ``[B, 64]`` → the lattice state ``[B, N, C]`` before the first step."""
        B = inputs.shape[0]
        state = inputs.new_zeros(B, self.num_cells, self.channels)
        state[:, self.input_cells, 0] = F.adaptive_avg_pool2d(inputs.view(B, 1, 8, 8), self.face).reshape(B, -1)
        state[:, self.input_cells, 1:3] = self.position  # each input cell knows where it is
        return state

    def readout(self, state, inputs):  # the final state [B, N, C] → class logits [B, classes]
        return self.vote(state[:, self.output_cells]).mean(1)  # each output cell votes; the consensus decides

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.readout(self.propagator(self.initial_state(inputs)), inputs)

    def training_loss(self, batch: dict[str, torch.Tensor], settings) -> torch.Tensor:
        """The Pipeline contract's loss on ``example_batch`` (the kit's check); training uses the objective."""
        return F.cross_entropy(self(batch["inputs"]), batch["targets"])

    def example_batch(self, size: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
        return {"inputs": torch.rand(size, 64, generator=generator),
                "targets": torch.randint(0, self.vote.out_features, (size,), generator=generator)}
