"""Pictures of solved and failed tasks: each test input, the expected output and both attempts (PNG, matplotlib)."""
from __future__ import annotations

from pathlib import Path

from .data import Grid

# ARC's colours 0–9 (black, blue, red, green, yellow, grey, magenta, orange, sky, maroon)
PALETTE = ("#000000", "#0074D9", "#FF4136", "#2ECC40", "#FFDC00", "#AAAAAA", "#F012BE", "#FF851B", "#7FDBFF", "#870C25")


def draw_task(path: Path, task_id: str, inputs: list[Grid], expected: list[Grid], attempts: list[list[Grid]]) -> Path:
    """One row per test grid: input, expected, attempt 1, attempt 2 (a ✓ on an attempt equal to the expected grid)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap

    cmap = ListedColormap(PALETTE)
    cols = 2 + max(len(a) for a in attempts)
    fig, axes = plt.subplots(len(inputs), cols, figsize=(2.2 * cols, 2.3 * len(inputs)), squeeze=False)
    for q, (grid, out, att) in enumerate(zip(inputs, expected, attempts)):
        panels = [("input", grid), ("expected", out)] + [(f"attempt {k + 1}" + (" ✓" if a == out else ""), a) for k, a in enumerate(att)]
        for ax, (title, g) in zip(axes[q], panels):
            ax.imshow(g, cmap=cmap, vmin=0, vmax=9, interpolation="nearest")
            ax.set_title(title, fontsize=9)
            ax.set_xticks([])
            ax.set_yticks([])
    fig.suptitle(task_id, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path
