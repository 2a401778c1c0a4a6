"""Pictures of what happens inside a lattice for one input (``aa inspect``, aa serve's ``/v1/inspect``).

The input (a dataset example, or a text embedded by the pipeline's tokenizer) is written onto the
lattice by the pipeline's ``initial_state`` and the propagator is stepped one step at a time
(propagators with ``step``; others give only the final state), keeping every state. The picture
shows, per step: the state magnitude ‖s‖ on a slice through the lattice along the input→output
axis; the activity by hop distance from the input cells (the light cone: no signal can travel
faster than one hop per step); and the output face the readout sees. Any write → propagate → read
pipeline (:class:`aa_core.protocols.LatticePipeline`) can be pictured, whatever its task; a
pipeline whose forward is more than the propagator's own steps (:class:`RolloutPipeline`: its own
number of steps, dead cells held at zero, inputs written again) gives its states itself.
"""
from __future__ import annotations

import functools
import os
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch

from aa_core.plugin import UserError, atomic_path
from aa_core.protocols import LatticePipeline, ScheduledPropagator, SteppedPropagator

AXES = {"x": 0, "y": 1, "z": 2}
MAX_TRACE_BYTES = 256 * 2**20  # the kept states of one trace; larger lattices are pictured on a machine with more memory


@runtime_checkable
class RolloutPipeline(Protocol):
    """A LatticePipeline whose forward steps the lattice its own way (a step count of its own, dead cells
    held at zero, inputs written again after each step): ``rollout(state, batch)`` → every state from
    ``state`` to the last, as its forward computes them for that batch (``batch["inputs"]`` and what
    else the dataset's batch holds, e.g. a mask), so the picture and the prediction are its real ones."""

    def rollout(self, state: torch.Tensor, batch: dict[str, Any]) -> list[torch.Tensor]: ...


def check_size(model) -> None:
    """Refuse (UserError) a trace whose kept states would exceed MAX_TRACE_BYTES."""
    g, steps = getattr(model, "geometry", None), getattr(getattr(model, "propagator", None), "steps", 1)
    if g is None or not hasattr(model, "channels"):
        return  # trace() says what is missing
    need = 2 * g.num_cells * model.channels * ((steps if isinstance(steps, int) else 1) + 1) * 4
    if need > MAX_TRACE_BYTES:
        raise UserError(f"the lattice is too large to picture here ({need / 2**20:.0f} MiB of states for one input, "
                        f"limit {MAX_TRACE_BYTES // 2**20} MiB); run aa inspect on a machine with the memory for it")


@torch.no_grad()
def trace(model, x: torch.Tensor, batch: dict[str, Any] | None = None) -> dict:
    """States ``[T+1, X, Y, Z, C]`` of one input (first dimension 1) from the written state to the last
    step, for any write → propagate → read pipeline (:class:`aa_core.protocols.LatticePipeline`).
    ``batch``: the dataset's batch of that input (a :class:`RolloutPipeline` may read more than ``x``)."""
    why = not_lattice_pipeline(model)
    if why:
        raise UserError(f"aa inspect pictures write → propagate → read pipelines (aa_core.protocols.LatticePipeline: "
                        f"initial_state(inputs), readout(state, inputs), geometry, propagator, input_cells); "
                        f"{type(model).__name__} is not one: {why}")
    model.eval()  # an nn.Module
    g, prop = model.geometry, model.propagator
    state = model.initial_state(x)
    if isinstance(model, RolloutPipeline):
        b = {"inputs": x} if batch is None else batch
        states, stepwise = model.rollout(state, b), True
        empty = model.rollout(torch.zeros_like(state), {**b, "inputs": torch.zeros_like(x)})  # nothing written
    else:
        states, stepwise = _run(prop, state)
        empty, _ = _run(prop, torch.zeros_like(state))  # what the lattice does with nothing written (biases)
    grids = torch.stack([g.to_grid(s)[0] for s in states])  # [T+1, X, Y, Z, C]
    base = torch.stack([g.to_grid(s)[0] for s in empty])
    return {"grids": grids, "driven": grids - base, "stepwise": stepwise, "prediction": model.readout(states[-1], x)}


def not_lattice_pipeline(model) -> str:
    """Why ``model`` cannot be traced ('' when it can): the protocol's members, and ``readout`` a method
    ``readout(state, inputs)`` (not a layer that happens to be called ``readout``), ``input_cells`` cell ids."""
    if not isinstance(model, LatticePipeline):
        missing = [m for m in ("initial_state", "readout", "geometry", "propagator", "channels", "input_cells")
                   if getattr(model, m, None) is None]
        return f"it has no {', '.join(missing)}" if missing else "it lacks a member of the protocol"
    if not callable(getattr(type(model), "readout", None)) or not callable(getattr(type(model), "initial_state", None)):
        return "its readout / initial_state are not methods readout(state, inputs) / initial_state(inputs)"
    if not isinstance(model.input_cells, torch.Tensor):
        return f"its input_cells is a {type(model.input_cells).__name__}, not a tensor of cell ids"
    return ""


def _run(prop, state: torch.Tensor) -> tuple[list[torch.Tensor], bool]:
    """Every state from ``state`` on, one update at a time when the propagator allows it."""
    steps = getattr(prop, "steps", None)
    updates: list[Callable[[torch.Tensor], torch.Tensor]]
    if isinstance(prop, ScheduledPropagator):
        updates = [functools.partial(prop.step_at, t=t) for t in range(prop.period)]
    elif isinstance(prop, SteppedPropagator) and isinstance(steps, int):
        updates = [prop.step] * steps
    else:
        return [state, prop(state)], False
    states = [state]
    for update in updates:
        states.append(update(states[-1]))
    final = prop(state)
    if torch.allclose(final, states[-1], atol=1e-4, rtol=1e-3):
        return states, True
    return [state, final], False  # its forward is more than its steps: show its real output only


def hop_from_face(geometry, cells: torch.Tensor) -> torch.Tensor:
    """``[X, Y, Z]`` fewest hops from any of ``cells`` (the light-cone distance)."""
    d = torch.stack([geometry.hop_distance(int(c)) for c in cells]).min(0).values
    return d.view(*geometry.size)


def picture(model, tr: dict, question: str, answer: str, path: Path, frames: int = 8, labels: tuple[str, str] = ("Q", "A")) -> Path:
    """Write the PNG: slices per step, light cone, output face per step, output-face activity curve.

    The title is the input (``question``) and what the model made of it (``answer``), each after its
    label (``labels``; empty labels: the lines are shown as given, as ``aa inspect`` prints them)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    g = model.geometry
    grids = tr["grids"]
    mag = grids.norm(dim=-1).numpy()  # [T+1, X, Y, Z]
    drv = tr["driven"].norm(dim=-1).numpy()  # input-driven part: state minus the state with nothing written
    T = mag.shape[0] - 1
    in_face, out_face = g.config.input_face, g.config.output_face
    axis = AXES[in_face[0]]
    # the slice: through the lattice centre, containing the input→output axis
    other = [a for a in range(3) if a != axis]
    cut = min(other, key=lambda a: g.size[a])  # the plane shown is the larger one (a line along x: its x–z plane)
    mid = g.size[cut] // 2
    k = min(frames, T + 1)
    shown = sorted({round(i * T / max(k - 1, 1)) for i in range(k)})
    vmax = float(mag.max()) or 1.0
    hop = hop_from_face(g, model.input_cells).numpy()
    dmax = int(hop.max())
    cone = np.array([[drv[t][hop == d].mean() if (hop == d).any() else np.nan for d in range(dmax + 1)] for t in range(T + 1)])
    oa = AXES[out_face[0]]
    oidx = 0 if out_face[1] == "0" else g.size[oa] - 1
    out_faces = np.take(mag, oidx, axis=oa + 1)  # [T+1, a, b]
    out_driven = np.take(drv, oidx, axis=oa + 1)
    n = len(shown)
    fig = plt.figure(figsize=(max(2.6 * n + 1.5, 12), 12))
    gs = fig.add_gridspec(3, n + 1, width_ratios=[1] * n + [0.06], height_ratios=[1, 1, 1.3], hspace=0.5, wspace=0.3)
    names = "xyz"
    for j, t in enumerate(shown):
        ax = fig.add_subplot(gs[0, j])
        sl = np.take(mag[t], mid, axis=cut)  # 2-D over the two remaining axes
        rem = [a for a in range(3) if a != cut]
        img = sl if rem[1] == axis else sl.T  # rows: the other axis; columns: input→output axis
        im = ax.imshow(img, origin="lower", cmap="magma", vmin=0, vmax=vmax, aspect="auto")
        ax.set_title(f"step {t}", fontsize=10)
        ax.set_xlabel(f"{names[axis]} (input → output)", fontsize=8)
        ax.set_ylabel(names[rem[0] if rem[1] == axis else rem[1]], fontsize=8)
        ax.tick_params(labelsize=7)
        ax2 = fig.add_subplot(gs[1, j])
        im2 = ax2.imshow(out_faces[t], origin="lower", cmap="viridis", vmin=0, vmax=float(out_faces.max()) or 1.0)
        ax2.set_title(f"output face, step {t}", fontsize=9)
        ax2.tick_params(labelsize=7)
    fig.colorbar(im, cax=fig.add_subplot(gs[0, n]), label="‖state‖")
    fig.colorbar(im2, cax=fig.add_subplot(gs[1, n]), label="‖state‖ on output face")
    fig.text(0.5, 0.905, f"top: ‖state‖ on the slice {names[cut]} = {mid} of a {'×'.join(map(str, g.size))} lattice "
             f"({g.neighbourhood} neighbours, {T} steps); input face {in_face}, output face {out_face}", fontsize=10, ha="center")
    bottom = gs[2, :].subgridspec(1, 2, wspace=0.35)
    ax3 = fig.add_subplot(bottom[0, 0])
    from matplotlib.colors import LogNorm

    floor = 1e-9  # the signal falls by orders of magnitude per hop: a log scale shows how far it gets
    im3 = ax3.imshow(np.clip(cone.T, floor, None), origin="lower", aspect="auto", cmap="magma",
                     norm=LogNorm(vmin=floor, vmax=max(float(np.nanmax(cone)), floor * 10)), extent=(-0.5, T + 0.5, -0.5, dmax + 0.5))
    ts = np.arange(T + 1)
    ax3.plot(ts, np.minimum(ts, dmax), "c--", lw=1.5, label="light cone (1 hop per step)")
    ax3.axhline(int(hop[tuple(slice(None) if a != oa else oidx for a in range(3))].min()), color="w", lw=1, ls=":",
                label="output face")
    ax3.set(xlabel="step", ylabel="hops from the input face",
            title="light cone: input-driven ‖state − state(nothing written)‖\nmean over cells at each distance")
    ax3.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.15), ncol=2)
    fig.colorbar(im3, ax=ax3, label="mean input-driven ‖Δstate‖ (log scale)")
    ax4 = fig.add_subplot(bottom[0, 1])
    ax4.plot(ts, out_faces.reshape(T + 1, -1).mean(1), "o-", label="‖state‖ (incl. the cell's own bias response)")
    ax4.plot(ts, out_driven.reshape(T + 1, -1).mean(1), "s-", label="input-driven part ‖state − state(nothing written)‖")
    ax4.set_yscale("symlog", linthresh=1e-9)
    ax4.set(xlabel="step", ylabel="mean over the output face (log scale)", title="does the input's signal reach the output face?")
    ax4.set_xticks(ts if T <= 20 else ts[:: max(1, T // 10)])
    ax4.grid(alpha=0.3)
    ax4.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.15))
    note = "" if tr["stepwise"] else " (propagator not steppable: first and last state only)"
    wrap = max(60, int(fig.get_figwidth() * 11))
    head = [f"{label}: {text}" if label else text for label, text in zip(labels, (question, answer + note))]
    fig.suptitle(textwrap.fill(head[0], wrap) + "\n" + textwrap.fill(head[1], wrap), fontsize=11, y=0.99)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100, format="png", bbox_inches="tight")
    plt.close(fig)
    return path


def animation(model, tr: dict, path: Path) -> Path:
    """A GIF of the slice and the output face, one frame per step."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.animation import FuncAnimation, PillowWriter

    g = model.geometry
    mag = tr["grids"].norm(dim=-1).numpy()
    axis = AXES[g.config.input_face[0]]
    cut = min((a for a in range(3) if a != axis), key=lambda a: g.size[a])
    oa = AXES[g.config.output_face[0]]
    oidx = 0 if g.config.output_face[1] == "0" else g.size[oa] - 1
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(8, 4))
    sl = lambda t: np.take(mag[t], g.size[cut] // 2, axis=cut)  # noqa: E731
    im1 = a1.imshow(sl(0), origin="lower", cmap="magma", vmin=0, vmax=float(mag.max()) or 1.0, aspect="auto")
    im2 = a2.imshow(np.take(mag[0], oidx, axis=oa), origin="lower", cmap="viridis", vmin=0, vmax=float(mag.max()) or 1.0)
    a2.set_title("output face")

    def frame(t: int):
        im1.set_data(sl(t))
        im2.set_data(np.take(mag[t], oidx, axis=oa))
        a1.set_title(f"slice, step {t}")
        return im1, im2

    anim = FuncAnimation(fig, frame, frames=mag.shape[0], interval=400)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp{path.suffix}")  # the writer picks the format by suffix
    try:
        anim.save(str(tmp), writer=PillowWriter(fps=2))
        os.replace(tmp, path)
    finally:
        plt.close(fig)
        tmp.unlink(missing_ok=True)
    return path
