"""aa_inspect.pictures draws every kind of aa_core.protocols.Picture: side by side, as a strip, as a GIF and as voxels."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from aa_core.protocols import Picture, PicturedDataset
from aa_inspect.pictures import array, examples_png, frames_gif, is_voxels, strip_png, voxels_png

PANELS = [
    ("image", Picture("image", torch.rand(8, 8), caption="grey")),
    ("rgb", Picture("image", np.random.default_rng(0).random((6, 6, 3)))),
    ("sequence", Picture("sequence", torch.randn(40))),
    ("row", Picture("classes", [0, 3, 3, -1], palette=("#000000", "#0074D9", "#FF4136", "#2ECC40"), caption="033")),
    ("grid", Picture("classes", torch.tensor([[1, -1], [2, 1]]), names=("a", "b", "c"))),
    ("scores", Picture("scores", torch.tensor([0.1, 0.7, 0.2]), names=("x", "y", "z"))),
]


def test_a_picture_names_its_kind():
    with pytest.raises(ValueError, match="one of image, sequence, classes, scores"):
        Picture("bars", [1, 2])
    assert array(Picture("scores", torch.tensor([1.0, 2.0]))).tolist() == [1.0, 2.0]
    assert is_voxels(Picture("classes", np.zeros((2, 2, 2), dtype=int))) and not is_voxels(Picture("classes", [[0]]))


def test_every_kind_is_drawn_side_by_side_as_a_strip_and_as_a_gif(tmp_path):
    rows = [("first", PANELS[:3]), ("second", PANELS[3:])]
    out = examples_png(rows, tmp_path / "side.png", "title")
    with Image.open(out) as im:
        assert im.format == "PNG" and im.size[0] > 600 and im.size[1] > 400
    with Image.open(strip_png(PANELS, tmp_path / "strip.png", "strip", per_row=4)) as im:
        assert im.format == "PNG" and im.size[0] > im.size[1]
    frames = [(f"step {t}", Picture("classes", [t % 3, 1, -1])) for t in range(4)]
    with Image.open(frames_gif(frames, tmp_path / "steps.gif", hold=[1])) as im:
        assert im.format == "GIF" and im.n_frames == 4
        durations = []
        for i in range(im.n_frames):
            im.seek(i)
            durations.append(im.info["duration"])
        assert durations[1] == durations[3] > durations[0]  # the held frame and the last are shown longer


def test_voxels_are_rendered_with_empty_cells_left_out(tmp_path):
    grid = -np.ones((3, 4, 5), dtype=int)
    grid[1, :, 0] = 0
    grid[1, 2, 1:4] = 1
    panels = [("target", Picture("classes", grid, names=("stone", "wool"))), ("empty", Picture("classes", -np.ones((3, 4, 5), dtype=int)))]
    with Image.open(voxels_png(panels, tmp_path / "voxels.png", "voxels")) as im:
        assert im.format == "PNG" and im.size[0] > im.size[1]


def test_the_protocol_is_checked_with_isinstance():
    class Pictured:
        def example_picture(self, index, split):
            return {"input": PANELS[0][1], "target": PANELS[5][1]}

        def prediction_picture(self, output, index, split):
            return Picture("scores", output[0])

    assert isinstance(Pictured(), PicturedDataset) and not isinstance(object(), PicturedDataset)
