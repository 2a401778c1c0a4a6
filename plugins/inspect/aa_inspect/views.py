"""What ``aa inspect`` pictures for a dataset that describes its examples as pictures
(:class:`aa_core.protocols.PicturedDataset`), whatever the task:

- :func:`example_rows`: input, target and prediction of a few examples, side by side.
- :func:`over_time`: for a lattice pipeline, the prediction read from the state after each step (the
  state over time); for a dataset whose pattern regrows (:class:`aa_core.protocols.DamagedDataset`) the
  grown state is then damaged and stepped again (grow, damage, regrow).
- :func:`voxel_panels`: the 3D class grids among them (target, grown, damaged, regrown) for a voxel render.
"""
from __future__ import annotations

from typing import Any

import torch

from aa_core.protocols import DamagedDataset, DescribedDataset, LatticePipeline, Picture, PicturedDataset

from .lattice_view import RolloutPipeline, _run
from .pictures import is_voxels

MAX_GIF_FRAMES = 24  # steps of a roll-out in the GIF (evenly spaced, first and last kept); the regrowth after damage gets half as many
SPLIT_WORDS = {"validation": "val"}


def evenly(T: int, k: int) -> list[int]:
    """``k`` steps of ``0..T``, evenly spaced, first and last included."""
    k = max(1, min(k, T + 1))
    return sorted({round(i * T / max(k - 1, 1)) for i in range(k)})


@torch.no_grad()
def predict(model: Any, batch: dict[str, Any]) -> torch.Tensor:
    """The pipeline's output for a dataset batch: the roll-out's readout for a pipeline that steps the lattice
    its own way (:class:`~aa_inspect.lattice_view.RolloutPipeline`: masks, its own step count), else ``model(inputs)``."""
    model.eval()
    x = batch["inputs"]
    if isinstance(model, LatticePipeline) and isinstance(model, RolloutPipeline):
        return model.readout(model.rollout(model.initial_state(x), batch)[-1], x)
    return model(x)


def example_rows(model: Any, dataset: PicturedDataset, split: str, index: int, count: int) -> list[tuple[str, list[tuple[str, Picture]]]]:
    """(heading, [input, target, prediction]) of examples ``index``, ``index + 1``, … (``count`` of them, within the split)."""
    n = int(dataset.sizes()[split])  # type: ignore[attr-defined]  # a Dataset too
    chosen = list(range(index, min(index + max(count, 1), n)))
    batch = dataset.batch(split, torch.tensor(chosen))  # type: ignore[attr-defined]
    out = predict(model, batch)
    rows = []
    for j, i in enumerate(chosen):
        pics = dataset.example_picture(i, split)
        pred = dataset.prediction_picture(out[j: j + 1], i, split)
        heading = dataset.describe(i, split) if isinstance(dataset, DescribedDataset) else f"{SPLIT_WORDS.get(split, split)} example {i}"
        rows.append((heading, [("input", pics["input"]), ("target", pics["target"]), ("prediction", pred)]))
    return rows


@torch.no_grad()
def over_time(model: Any, dataset: PicturedDataset, tr: dict, x: torch.Tensor, batch: dict[str, Any] | None, index: int, split: str,
              frames: int) -> dict[str, Any]:
    """The prediction read from the traced states (``tr``: :func:`aa_inspect.lattice_view.trace` of example ``index``).

    Returns ``strip`` (``frames`` steps, then damaged and regrown when the dataset regrows), ``gif`` (up to
    :data:`MAX_GIF_FRAMES` steps, then the damaged state and the regrowth), ``hold`` (the GIF frames to show
    longer: the damaged state) and ``states`` (label → state ``[1, N, C]`` of the last step, the damaged and
    the regrown state)."""
    g = model.geometry
    cells = [g.to_cells(grid.unsqueeze(0).contiguous()) for grid in tr["grids"]]  # [1, N, C] per step
    T = len(cells) - 1
    cache: dict[tuple[str, int], Picture] = {}

    def pic(kind: str, t: int, state: torch.Tensor) -> Picture:
        if (kind, t) not in cache:
            cache[kind, t] = dataset.prediction_picture(model.readout(state, x), index, split)
        return cache[kind, t]

    word = "step" if tr["stepwise"] else "state"
    strip = [(f"{word} {t}", pic("grow", t, cells[t])) for t in evenly(T, frames)]
    gif = [(f"{word} {t}", pic("grow", t, cells[t])) for t in evenly(T, MAX_GIF_FRAMES)]
    hold: list[int] = []  # GIF frames shown longer (the damaged state)
    states = {f"grown ({T} {word}s)" if tr["stepwise"] else "final state": cells[-1]}
    if isinstance(dataset, DamagedDataset):
        damaged = dataset.damage(cells[-1])
        if isinstance(model, RolloutPipeline):
            again = model.rollout(damaged, {**(batch or {}), "inputs": x})
        else:
            again, _ = _run(model.propagator, damaged)
        R = len(again) - 1
        states |= {"damaged": again[0], f"regrown (+{R} steps)": again[-1]}
        strip += [("damaged", pic("regrow", 0, again[0])), (f"regrown (+{R} steps)", pic("regrow", R, again[-1]))]
        hold.append(len(gif))
        gif.append(("damaged", pic("regrow", 0, again[0])))
        gif += [(f"regrowing, +{t} steps", pic("regrow", t, again[t])) for t in evenly(R, MAX_GIF_FRAMES // 2)[1:]]
    return {"strip": strip, "gif": gif, "hold": hold, "states": states}


def voxel_panels(dataset: PicturedDataset, target: Picture, timeline: dict[str, Any] | None, prediction: Picture,
                 model: Any, x: torch.Tensor, index: int, split: str) -> list[tuple[str, Picture]]:
    """The 3D class grids to render as voxels (empty when neither the target nor the prediction is one):
    the target and the prediction, or the target, grown, damaged and regrown states of a roll-out."""
    if not (is_voxels(target) or is_voxels(prediction)):
        return []
    panels = [("target", target)]
    if timeline is None or len(timeline["states"]) == 1:
        return [*panels, ("prediction", prediction)]
    with torch.no_grad():
        for label, state in timeline["states"].items():
            panels.append((label, dataset.prediction_picture(model.readout(state, x), index, split)))
    return panels
