"""Hooks and configs (torch-free: the factories are "module:attr" strings, loaded when built)."""
from __future__ import annotations

import attrs

from aa_core.plugin import Component, LatticeConfig, hookimpl, positive


@attrs.define
class DigitsConfig:
    """scikit-learn's 8×8 digits, shuffled with ``seed`` and cut into train/validation/test by ``split``."""

    split: list[float] = attrs.field(factory=lambda: [0.7, 0.15, 0.15], validator=positive)
    seed: int = 0

    def check(self):
        if len(self.split) != 3 or abs(sum(self.split) - 1) > 1e-6:
            yield "split", f"must be three fractions (train, validation, test) summing to 1, got {self.split}"

    def io_shapes(self) -> dict[str, list[int]]:
        """An example is 64 pixel values; a prediction, ten class logits (ShapedDatasetConfig)."""
        return {"inputs": [64], "outputs": [10]}


@attrs.define
class ClassificationConfig:
    """Cross-entropy of the class logits; selects on validation accuracy."""


@attrs.define
class ConsensusConfig:
    """Pixels onto the input face, the propagator, then the mean of a per-cell linear readout of the output face."""

    classes: int = attrs.field(default=10, validator=positive)

    def check_with(self, spec):  # CrossCheckedConfig: `aa check` refuses what the pipeline cannot build
        geometry, cell = spec.config("geometry"), spec.config("cell")
        if isinstance(geometry, LatticeConfig) and 1 in geometry.face_shape(geometry.input_face):
            yield "geometry.size", (f"{geometry.size}: its input face {geometry.input_face} (geometry.input_face) is a line; the "
                                    "face_consensus pipeline writes the 8×8 image onto a two-dimensional face, e.g. size = [8, 8, 2]")
        if getattr(cell, "channels", 3) < 3:
            yield "cell.channels", f"is {cell.channels}; the face_consensus pipeline needs 3 (pixel value and position on the face)"


@hookimpl
def aa_components() -> list[Component]:
    return [
        Component("dataset", "digits8x8", DigitsConfig, "aa_digits.data:Digits", "scikit-learn's 8×8 digits (bundled, offline)",
                  defaults={"objective": "digits_classification"}),
        Component("objective", "digits_classification", ClassificationConfig, "aa_digits.objective:build",
                  "cross-entropy of the class logits; loss and accuracy per split"),
        Component("pipeline", "face_consensus", ConsensusConfig, "aa_digits.model:FaceConsensus",
                  "image on the input face → propagator → class = consensus of the output cells"),
    ]
