"""Drawing :class:`aa_core.protocols.Picture` panels: what a :class:`~aa_core.protocols.PicturedDataset`
says an input, a target or a prediction looks like (an image, a sequence, a row / grid / voxel grid of
classes, class scores).

- :func:`examples_png`: input, target and prediction side by side, one row per example.
- :func:`strip_png`: a row of panels (the prediction at several steps of a roll-out: the state over time).
- :func:`frames_gif`: the same panels as an animated GIF, one frame each.
- :func:`voxels_png`: 3D class grids rendered as voxels (``ax.voxels``, coloured by class, the last
  axis up), larger and with a legend of the classes.
"""
from __future__ import annotations

import textwrap
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from aa_core.plugin import atomic_path
from aa_core.protocols import Picture

VIEW = (22, -35)  # voxels: elevation and azimuth (degrees); the second axis runs left to right, the last one up
EMPTY = "#ffffff"  # a negative class id: an empty cell (air, dead, beyond a row's end)
Panels = Sequence[tuple[str, Picture]]


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # a heading may hold a character the font lacks (an emoji): drawn as a box, not worth a warning
    warnings.filterwarnings("ignore", message=r"Glyph \d+ .* missing from font", category=UserWarning)
    return plt


def array(p: Picture) -> np.ndarray:
    """The picture's data as a numpy array (tensors detached and moved to the CPU)."""
    import torch

    data = p.data
    if isinstance(data, torch.Tensor):
        data = (data.detach().float() if data.is_floating_point() else data.detach()).cpu().numpy()
    return np.asarray(data)


def is_voxels(p: Picture) -> bool:
    """A 3D class grid (drawn in 3D)."""
    return p.kind == "classes" and array(p).ndim == 3


def class_colours(p: Picture, n: int) -> list[str]:
    """One colour per class id ``0..n-1``: the picture's palette, else tab10 (tab20 beyond ten classes)."""
    from matplotlib import colormaps
    from matplotlib.colors import to_hex

    if p.palette:
        return [p.palette[i % len(p.palette)] for i in range(n)]
    cmap = colormaps["tab10" if n <= 10 else "tab20"]
    return [to_hex(cmap(i % cmap.N)) for i in range(n)]


def _classes(p: Picture) -> tuple[np.ndarray, list[str], list[str]]:
    """(class ids, a colour per id, a name per id)."""
    a = array(p).astype(np.int64)
    n = max(int(a.max()) + 1 if a.size else 0, len(p.names), len(p.palette), 1)
    names = [p.names[i] if i < len(p.names) else str(i) for i in range(n)]
    return a, class_colours(p, n), names


def _title(ax: Any, title: str, caption: str, width: int = 40) -> None:
    lines = [title] if title else []
    if caption:
        lines.append(textwrap.shorten(caption, width * 2, placeholder=" …") if len(caption) > width * 2 else caption)
    ax.set_title("\n".join(textwrap.fill(line, width) for line in lines), fontsize=9)


def _legend(ax: Any, ids: np.ndarray, colours: list[str], names: list[str], voxels: bool, cols: int) -> None:
    from matplotlib.patches import Patch

    present = sorted({int(i) for i in np.unique(ids) if i >= 0})
    if not present or (len(present) > 12 and not voxels):
        return
    handles = [Patch(facecolor=colours[i], edgecolor="k", linewidth=0.3, label=names[i]) for i in present]
    ax.legend(handles=handles, fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.02), ncol=min(len(handles), cols),
              frameon=False, handlelength=1.0, columnspacing=0.8)


def draw(ax: Any, p: Picture, title: str = "", legend: int = 2, width: int = 40) -> None:
    """Draw ``p`` on ``ax`` (a 3D axes when :func:`is_voxels`), titled ``title`` with the picture's caption under it
    (wrapped at ``width`` characters); a legend of the classes present in ``legend`` columns (0: none)."""
    from matplotlib.colors import ListedColormap

    a = array(p)
    if p.kind == "image":
        img = np.clip(a.astype(np.float64), 0.0, 1.0)
        if img.ndim == 2:
            ax.imshow(img, cmap="gray_r", vmin=0.0, vmax=1.0, interpolation="nearest")
        else:
            ax.imshow(img, interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
    elif p.kind == "sequence":
        a = a.astype(np.float64)
        ax.plot(np.arange(len(a)), a, lw=1.4, marker="." if len(a) <= 64 else None, ms=3)
        ax.set_xlabel("position", fontsize=7)
        ax.grid(alpha=0.3)
        ax.tick_params(labelsize=7)
    elif p.kind == "scores":
        a = a.astype(np.float64).reshape(-1)
        names = [p.names[i] if i < len(p.names) else str(i) for i in range(len(a))]
        best = int(a.argmax()) if a.size else -1
        ax.bar(range(len(a)), a, color=["#d62728" if i == best else "#8c8c8c" for i in range(len(a))], width=0.8)
        ax.set_xticks(range(len(a)), names, fontsize=7, rotation=0 if max((len(n) for n in names), default=1) <= 2 else 60)
        lo, hi = float(min(0.0, a.min(initial=0.0))), float(max(1.0, a.max(initial=0.0)))
        ax.set_ylim(lo, hi * 1.05)
        ax.tick_params(labelsize=7)
        ax.grid(axis="y", alpha=0.3)
    elif is_voxels(p):
        ids, colours, names = _classes(p)
        filled = ids >= 0
        face = np.full(ids.shape, EMPTY, dtype=object)
        for c in np.unique(ids[filled]):
            face[ids == c] = colours[int(c)]
        if filled.any():
            ax.voxels(filled, facecolors=face, edgecolor="k", linewidth=0.15)
        ax.set_xlim(0, ids.shape[0])
        ax.set_ylim(0, ids.shape[1])
        ax.set_zlim(0, ids.shape[2])
        ax.set_box_aspect(tuple(max(n, 1) for n in ids.shape), zoom=1.05)
        ax.view_init(elev=VIEW[0], azim=VIEW[1])
        ax.set_axis_off()
        if legend and p.names:
            _legend(ax, ids, colours, names, voxels=True, cols=legend)
    else:  # classes on a row or a grid
        ids, colours, names = _classes(p)
        grid = ids.reshape(1, -1) if ids.ndim == 1 else ids
        cmap = ListedColormap([EMPTY, *colours])
        ax.pcolormesh(np.clip(grid, -1, None) + 1, cmap=cmap, vmin=-0.5, vmax=len(colours) + 0.5, edgecolors="#d0d0d0", linewidth=0.4)
        ax.set_xlim(0, grid.shape[1])
        ax.set_ylim(grid.shape[0], 0)  # row 0 at the top
        ax.set_aspect("equal" if ids.ndim == 2 else "auto")
        ax.set_xticks([])
        ax.set_yticks([])
        if legend and p.names:
            _legend(ax, ids, colours, names, voxels=False, cols=legend)
    _title(ax, title, p.caption, width)


def _height(p: Picture, width: float) -> float:
    """Inches a panel of ``p`` needs in a layout of panels ``width`` inches wide (voxels: a square, as 3D axes draw in one)."""
    if is_voxels(p):
        return width
    if p.kind == "image" or (p.kind == "classes" and array(p).ndim == 2):
        return 2.6
    if p.kind == "classes":  # a row of cells: a strip
        return 0.45
    return 2.0


def _save(fig: Any, path: Path, dpi: int = 110) -> Path:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, format="png", bbox_inches="tight")
    _plt().close(fig)
    return path


# the grid of panels, in inches: margins, a row's heading, the panels' titles (title and caption), what is under them
LEFT, RIGHT, GAP, HEAD, TITLES = 0.55, 0.25, 0.6, 0.35, 0.62


def _grid(rows: Sequence[tuple[str, Panels]], title: str, panel_w: float) -> Any:
    """A figure of rows of panels placed by hand (no panel, title, heading or legend overlaps another): each row
    its heading (bold, left; none when empty) over its panels, each panel titled and captioned."""
    plt = _plt()
    cols = max(len(panels) for _, panels in rows)
    W = LEFT + cols * panel_w + (cols - 1) * GAP + RIGHT

    def foot(panels: Panels) -> float:  # ticks and labels, or a legend of named classes
        return 0.85 if any(p.kind == "classes" and p.names for _, p in panels) else 0.55

    heights = [(HEAD if heading else 0.1) + TITLES + max(_height(p, panel_w) for _, p in panels) + foot(panels) for heading, panels in rows]
    top = 0.55 if title else 0.1
    H = top + sum(heights)
    fig = plt.figure(figsize=(W, H))
    y = H - top  # the top of the current row, inches from the bottom
    for (heading, panels), h in zip(rows, heights):
        if heading:
            fig.text(0.1 / W, (y - 0.3) / H, textwrap.shorten(heading, int(W * 11), placeholder=" …"), fontsize=10, fontweight="bold")
        band = y - (HEAD if heading else 0.1) - TITLES  # the panels' top
        for j, (name, p) in enumerate(panels):
            ph = _height(p, panel_w)
            rect = ((LEFT + j * (panel_w + GAP)) / W, (band - ph) / H, panel_w / W, ph / H)
            draw(fig.add_axes(rect, projection="3d" if is_voxels(p) else None), p, name, legend=2 if panel_w < 4 else 3,
                 width=int(panel_w * 12))
        y -= h
    if title:
        fig.text(0.5, (H - 0.2) / H, textwrap.shorten(title, int(W * 11), placeholder=" …"), fontsize=11, ha="center", va="top")
    return fig


def examples_png(rows: Sequence[tuple[str, Panels]], path: Path, title: str = "") -> Path:
    """One row per example: its heading (the example's line) over its panels (input, target, prediction)."""
    voxels = any(is_voxels(p) for _, panels in rows for _, p in panels)
    return _save(_grid(rows, title, 3.8 if voxels else 3.3), path)


def strip_png(panels: Panels, path: Path, title: str = "", per_row: int = 6) -> Path:
    """``panels`` left to right (the prediction at several steps of a roll-out), at most ``per_row`` to a row,
    the rows as even as they can be."""
    voxels = any(is_voxels(p) for _, p in panels)
    n_rows = -(-len(panels) // per_row)
    per_row = -(-len(panels) // n_rows)
    rows = [("", panels[i: i + per_row]) for i in range(0, len(panels), per_row)]
    return _save(_grid(rows, title, 3.4 if voxels else 2.6), path)


def frames_gif(panels: Panels, path: Path, hold: Sequence[int] = (), duration_ms: int = 250, hold_ms: int = 1500) -> Path:
    """An animated GIF, one frame per panel, each titled by its panel (every frame the same size); the frames
    ``hold`` (indices) and the last are shown ``hold_ms`` (identical frames in a row are merged, their times added)."""
    from PIL import Image

    plt = _plt()
    voxels = any(is_voxels(p) for _, p in panels)
    images: list[Any] = []
    for name, p in panels:
        fig = _grid([("", [(name, p)])], "", 4.6 if voxels else 3.2)
        fig.canvas.draw()
        image = Image.fromarray(np.asarray(fig.canvas.buffer_rgba())[..., :3].copy())
        images.append(image if not images or image.size == images[0].size else image.resize(images[0].size))
        plt.close(fig)
    frames = [im.convert("P", palette=Image.Palette.ADAPTIVE, colors=255) for im in images]
    held = {i % len(frames) for i in (*hold, -1)}
    durations = [hold_ms if i in held else duration_ms for i in range(len(frames))]
    with atomic_path(path) as tmp:
        frames[0].save(tmp, format="GIF", save_all=True, append_images=frames[1:], duration=durations, loop=0, disposal=1)
    return path


def voxels_png(panels: Panels, path: Path, title: str = "") -> Path:
    """3D class grids side by side, each with a legend of its classes (the last axis up)."""
    return _save(_grid([("", panels)], title, 4.2), path, dpi=100)
