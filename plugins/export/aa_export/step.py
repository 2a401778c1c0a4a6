"""One step of a lattice pipeline as a module with the fire mask as an input, and the checkpoint it comes from.

AA's ``nca`` propagator draws its stochastic fire mask inside the step (``torch.rand < fire_rate`` in
training, every cell in eval); an exported step takes the mask as an input so that the caller — the
browser, a test, a game engine — supplies the randomness. :class:`LatticeStep` is the step of
:mod:`aa_core`'s ``nca`` propagator written out on one lattice state: alive mask before (3×3×3 max of the
alive channel above the threshold), the cell's update where ``fire`` is 1, alive mask after, the cell's
``post_update``. It calls the cell itself (its ``lattice_forward``, or its ``forward`` on the gathered
neighbourhoods for cells without one or with ``path = "reference"``), so any cell whose PyTorch path
torch.export can trace is exported. A cell's native kernel (a bool ``use_kernel`` attribute, as aa-nca's
``growing_nca`` has) is switched off while tracing: the graph holds the PyTorch path, and
:func:`aa_step` — AA's own propagator, kernel on — is what the exported graph is compared with.

:func:`load` restores a checkpoint (:func:`aa_core.run.restore`) and rebuilds its dataset for the seed,
the display and the damage site; a pipeline whose propagator is not the ``nca`` propagator (aa-mamba's
``schedule`` with its global Mamba passes, say) is a :class:`~aa_core.plugin.UserError` (exit 2).
"""
from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import attrs
import torch
import torch.nn.functional as F
from torch import nn

from aa_core.plugin import NCAPropagator, UserError

FORMAT = "aa-live/1"  # the model description's format (model.json, the ONNX file's metadata "aa.live")
#: distinct colours of the classes of a class-grid display (class 0, air, is not drawn)
PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
           "#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173", "#3182bd", "#e6550d", "#31a354", "#756bb1", "#636363"]


def lattice_pipeline(model: nn.Module, where: str) -> nn.Module:
    """The lattice pipeline in ``model`` (unwrapping wrappers): a module with ``geometry``, ``propagator`` and ``channels``."""
    for m in model.modules():
        if all(hasattr(m, a) for a in ("geometry", "propagator", "channels")):
            return m
    raise UserError(f"{where}: its model ({type(model).__name__}) is no lattice pipeline (a module with geometry, propagator and "
                    "channels: aa_core.protocols.LatticePipeline), so it has no lattice step to export")


def check_propagator(pipeline: Any, where: str) -> NCAPropagator:
    """The pipeline's ``nca`` propagator; any other (a schedule with Mamba passes, a custom rule) is a UserError."""
    prop = pipeline.propagator
    if isinstance(prop, NCAPropagator):
        return prop
    name = type(prop).__name__
    inner = sorted({type(m).__name__ for m in prop.modules() if "mamba" in type(m).__name__.lower()})
    why = (f"its propagator is {name}, which runs global Mamba passes ({', '.join(inner)}) between the local steps: a selective scan "
           "over the whole lattice, not a local rule the exported step can hold" if inner or hasattr(prop, "step_grid_at")
           else f"its propagator is {name}, not the core's nca propagator, whose step (perception + update + masks) is what is exported")
    raise UserError(f"{where}: aa export cannot export this pipeline: {why}. Export a checkpoint whose [propagator] name = \"nca\" "
                    "(the local cellular-automaton step the browser can run)")


class LatticeStep(nn.Module):
    """``(state [1, X, Y, Z, C], fire [1, X, Y, Z, 1]) → next state``: one step of the ``nca`` propagator,
    with ``fire`` (1 = the cell updates) given instead of drawn."""

    def __init__(self, propagator: NCAPropagator):
        super().__init__()
        self.cell: Any = propagator.cell
        self.geometry = propagator.geometry
        cfg = propagator.config
        self.alive_channel = int(cfg.alive_channel)
        self.alive_threshold = None if cfg.alive_threshold is None else float(cfg.alive_threshold)
        self.reference = cfg.path != "fast" or not hasattr(self.cell, "lattice_forward")

    def alive(self, grid: torch.Tensor) -> torch.Tensor:
        """``[1, X, Y, Z, 1]`` bool: the 3×3×3 max of the alive channel (by the boundary rule) above the threshold."""
        c, threshold = self.alive_channel, self.alive_threshold
        assert threshold is not None  # only called when masking
        padded = self.geometry.pad(grid[..., c : c + 1].permute(0, 4, 1, 2, 3))
        return F.max_pool3d(padded, 3, 1).permute(0, 2, 3, 4, 1) > threshold

    def delta(self, grid: torch.Tensor) -> torch.Tensor:
        if self.reference:
            g = self.geometry
            return g.to_grid(self.cell(g.gather(g.to_cells(grid))).contiguous())
        return self.cell.lattice_forward(grid, self.geometry)

    def forward(self, state: torch.Tensor, fire: torch.Tensor) -> torch.Tensor:
        if self.alive_threshold is None:
            new = state + self.delta(state) * fire
        else:
            pre = self.alive(state)
            new = state + self.delta(state) * fire
            new = new * (pre & self.alive(new)).to(new.dtype)
        post = getattr(self.cell, "post_update", None)
        return new if post is None else post(new)


@contextlib.contextmanager
def kernels_off(module: nn.Module) -> Iterator[None]:
    """Switch off the native kernels of ``module``'s parts (bool ``use_kernel`` attributes) while tracing."""
    saved = [(m, bool(m.use_kernel)) for m in module.modules() if isinstance(getattr(m, "use_kernel", None), bool)]
    try:
        for m, _ in saved:
            setattr(m, "use_kernel", False)  # noqa: B010 (an attribute of some cells only)
        yield
    finally:
        for m, was in saved:
            setattr(m, "use_kernel", was)  # noqa: B010


@attrs.define
class Exportable:
    """A restored checkpoint's lattice step and what the live page needs to show it."""

    path: Path
    name: str
    pipeline: Any  # the lattice pipeline module (geometry, propagator, channels)
    propagator: NCAPropagator
    dataset: Any
    params: int

    @property
    def shape(self) -> tuple[int, int, int]:
        X, Y, Z = (int(v) for v in self.propagator.geometry.size)
        return X, Y, Z

    @property
    def channels(self) -> int:
        return int(self.pipeline.channels)

    @property
    def fire_rate(self) -> float:
        return float(self.propagator.config.fire_rate)

    def step(self) -> LatticeStep:
        return LatticeStep(self.propagator).eval()

    def seed(self) -> torch.Tensor:
        """The starting state ``[1, X, Y, Z, C]``: the dataset's seed, else one cell at the centre with the alive
        channel and every channel after it at 1 (the growth datasets' seed)."""
        X, Y, Z = self.shape
        seed = getattr(self.dataset, "seed", None)
        if isinstance(seed, torch.Tensor) and seed.shape == (X * Y * Z, self.channels):
            return seed.detach().float().reshape(1, X, Y, Z, self.channels).clone()
        out = torch.zeros(1, X, Y, Z, self.channels)
        out[0, X // 2, Y // 2, Z // 2, int(self.propagator.config.alive_channel):] = 1.0
        return out

    def display(self) -> dict[str, Any]:
        """How the page draws a state: ``rgba`` (premultiplied RGBA in channels 0–3, alpha the alive channel: the
        emoji), ``classes`` (class logits in channels 0…K−1, class 0 empty, drawn where alive: the voxel
        structures) or ``channel`` (one channel as grey levels)."""
        cfg = self.propagator.config
        names = getattr(self.dataset, "class_names", None)
        if isinstance(names, list) and names and self.channels > len(names):
            shown = [re.sub(r"^minecraft:", "", str(n)) for n in names]
            return {"kind": "classes", "classes": len(names), "names": shown,
                    "colours": ["#ffffff"] + [PALETTE[(i - 1) % len(PALETTE)] for i in range(1, len(names))]}
        if cfg.alive_threshold is not None and int(cfg.alive_channel) == 3 and self.channels >= 4:
            return {"kind": "rgba"}
        return {"kind": "channel", "channel": int(cfg.alive_channel) if cfg.alive_threshold is not None else 0}

    def damage(self) -> dict[str, Any]:
        """The dataset's damage site (a disk or ball), else a ball of a quarter of the smallest side at the centre."""
        site = getattr(self.dataset, "damage_site", None)
        if callable(site):
            centre, radius = site()
            return {"centre": [float(v) for v in centre.tolist()], "radius": float(radius)}
        X, Y, Z = self.shape
        return {"centre": [X // 2, Y // 2, Z // 2], "radius": max(1.0, min(s for s in (X, Y, Z) if s > 1) / 4)}

    def description(self) -> dict[str, Any]:
        """The model's description (the live page's ``model.json``, the ONNX file's ``aa.live`` metadata)."""
        cfg = self.propagator.config
        seed = self.seed().reshape(-1, self.channels)
        cells = [[int(n), [float(v) for v in seed[n].tolist()]] for n in seed.abs().sum(1).nonzero().flatten().tolist()]
        X, Y, Z = self.shape
        source = getattr(self.dataset, "source", None)
        if isinstance(source, str) and Path(source).is_absolute():
            source = Path(source).name  # a structure file's name, not this machine's folders
        return {
            "format": FORMAT, "name": self.name, "dataset": getattr(self.dataset, "name", None),
            "source": source if isinstance(source, str) else None, "params": self.params,
            "shape": [X, Y, Z], "channels": self.channels, "fire_rate": self.fire_rate,
            "alive_channel": int(cfg.alive_channel) if cfg.alive_threshold is not None else None,
            "alive_threshold": None if cfg.alive_threshold is None else float(cfg.alive_threshold),
            "inputs": {"state": [1, X, Y, Z, self.channels], "fire": [1, X, Y, Z, 1]}, "output": "next",
            "seed": cells, "display": self.display(), "damage": self.damage(),
            "steps": int(getattr(self.pipeline, "eval_steps", 0) or 0) or None,
            "rng": "torch.manual_seed(seed) then torch.rand(1, X, Y, Z, 1) < fire_rate per step (MT19937, 24-bit floats)",
        }


def load(checkpoint: str | Path, name: str | None = None) -> Exportable:
    """Restore ``checkpoint`` (a checkpoint or run folder) for export; its dataset is rebuilt from its spec (for the
    seed, the display and the damage site; a pipeline is exported without one when it cannot be rebuilt)."""
    from aa_core.run import count_params, resolve_checkpoint, restore

    path = resolve_checkpoint(Path(checkpoint))
    where = f"checkpoint {path}"
    r = restore(path)
    pipeline = lattice_pipeline(r.model, where)
    prop = check_propagator(pipeline, where)
    dataset = None
    if "dataset" in r.ctx.spec.components:
        try:
            dataset = r.ctx.build("dataset")
        except UserError:
            dataset = None
    return Exportable(path=path, name=name or default_name(Path(checkpoint), path), pipeline=pipeline.eval(), propagator=prop,
                      dataset=dataset, params=int(count_params(r.model)))


def default_name(given: Path, path: Path) -> str:
    """The run folder's name (a checkpoint folder inside a run is named by the run and the checkpoint)."""
    given, path = given.resolve(), path.resolve()
    return given.name if given != path else f"{path.parent.name}/{path.name}"


def fire_masks(shape: tuple[int, int, int], fire_rate: float, steps: int, seed: int) -> list[torch.Tensor]:
    """The fire masks ``[1, X, Y, Z, 1]`` (float 0/1) AA's propagator draws in ``steps`` steps after
    ``torch.manual_seed(seed)``: ``torch.rand(...) < fire_rate`` (every cell when the rate is 1; nothing drawn)."""
    X, Y, Z = shape
    if fire_rate >= 1.0:
        return [torch.ones(1, X, Y, Z, 1) for _ in range(steps)]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return [(torch.rand(1, X, Y, Z, 1) < fire_rate).float() for _ in range(steps)]


def aa_steps(exp: Exportable, state: torch.Tensor, steps: int, seed: int | None,
             edits: dict[int, Callable[[torch.Tensor], torch.Tensor]] | None = None) -> list[torch.Tensor]:
    """AA's own stochastic roll-out: ``steps`` calls of the propagator's ``step_grid`` from ``state [1, X, Y, Z, C]``,
    its fire masks drawn as in training after ``torch.manual_seed(seed)`` (None: every cell fires, eval).
    Only the propagator is put in training mode (its cell stays in eval: no dropout). ``edits[t]`` changes the
    state before step ``t`` (0-based; damage, as the live page's clicks do). Every state after a step."""
    prop = exp.propagator
    was = prop.training
    out = []
    try:
        with torch.no_grad(), torch.random.fork_rng(devices=[]):
            prop.training = seed is not None  # the propagator's own flag: its fire masks; the cell stays in eval
            if seed is not None:
                torch.manual_seed(seed)
            grid = state.clone()
            for t in range(steps):
                if edits and t in edits:
                    grid = edits[t](grid)
                grid = prop.step_grid(grid)
                out.append(grid.clone())
    finally:
        prop.training = was
    return out
