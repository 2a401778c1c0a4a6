"""The ``growth`` pipeline and what pool-trained growth datasets share.

Pipeline: a batch of lattice states ``[B, N, C]`` (seeds, or states from a sample pool) is run
through T steps of the spec's propagator (the built-in ``nca``: residual updates, fire rate,
alive masking) and returned. T is drawn uniformly from ``[pipeline] steps = [min, max]`` for
every training batch (so the pattern must hold for a range of times) and is ``eval_steps`` in
``forward`` (unless ``forward(inputs, steps=T)`` asks for another). The propagator's own ``steps`` is not used: the pipeline steps it one step at a time
(``step_grid(grid)``, or ``step_grid_at(grid, t)`` where updates differ: aa-mamba's ``schedule``).
It is a :class:`~aa_core.protocols.LatticePipeline` for ``aa inspect``: the input is the state
itself (``initial_state`` is the identity), ``readout`` the grown state, ``input_cells`` the
lattice's centre cell (where the growth datasets plant their seed), and ``rollout`` gives every
state of ``forward``'s ``eval_steps`` steps.

Datasets (:class:`GrowthDataset`, subclassed by aa-ca-suite's ``voxel_growth`` and ``emoji_growth``, or
by your own) hold the data: a target on the lattice, a seed, a :class:`~aa_nca.pool.SamplePool` as the
training split (``after_step`` writes the grown states back, reseeds the worst, damages the best) and
:meth:`GrowthDataset.grow_from_seed`, growth from the seed with the same stochastic updates as in
training on a fixed random stream (so measurements are repeatable), and :meth:`GrowthDataset.damage`
(a :class:`~aa_core.protocols.DamagedDataset`: the ball of :meth:`GrowthDataset.damage_site` zeroed,
where the growth objectives' test and ``aa inspect`` damage the pattern). The loss and the metrics are a
growth objective's (:class:`aa_nca.objective.GrowthObjective`, subclassed per task).
"""
from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from aa_core.plugin import UserError
from aa_core.protocols import ScheduledPropagator, SteppedPropagator

from .config import GrowthConfig
from .pool import SamplePool, ball_mask

VALIDATION_SEED = 1234  # the random stream of validation's fire masks (grow_from_seed's default)


MAX_SERVED_STEPS = 2000  # the most steps a served growth request may ask for (ServableDataset's input_schema)


def centre_cell(size: tuple[int, int, int]) -> int:
    """The raster id of the lattice's centre cell (the growth datasets' seed)."""
    X, Y, Z = size
    return ((X // 2) * Y + Y // 2) * Z + Z // 2


class Growth(nn.Module):
    seed_cells: torch.Tensor  # buffer

    def __init__(self, config: GrowthConfig, ctx: Any):
        super().__init__()
        self.geometry = ctx.geometry
        self.cell = ctx.cell
        self.propagator = ctx.propagator
        self._scheduled = isinstance(self.propagator, ScheduledPropagator)  # decided once, not per step
        if not self._scheduled and not isinstance(self.propagator, SteppedPropagator):
            raise UserError(f"{ctx.spec.source}: the growth pipeline steps its propagator one step at a time; "
                            "set [propagator] name = \"nca\" (or another propagator with step_grid or step_grid_at: "
                            "aa_core.protocols.SteppedPropagator, ScheduledPropagator)")
        self.channels = self.cell.channels
        self.steps = (int(config.steps[0]), int(config.steps[1]))
        self.eval_steps = int(config.eval_steps or config.steps[1])
        self.register_buffer("seed_cells", torch.tensor([centre_cell(tuple(self.geometry.size))]), persistent=False)

    def sample_steps(self) -> int:
        """A training T, uniform in [min, max] (the global torch generator: seeded by the trainer)."""
        lo, hi = self.steps
        return int(torch.randint(lo, hi + 1, ()).item())

    def step_grid(self, grid: torch.Tensor, t: int) -> torch.Tensor:
        """Step ``t`` (0-based) of a roll-out on ``[B, X, Y, Z, C]``."""
        if self._scheduled:
            return self.propagator.step_grid_at(grid, t)
        return self.propagator.step_grid(grid)

    def grow_grid(self, grid: torch.Tensor, steps: int) -> torch.Tensor:
        """``steps`` propagator steps on ``[B, X, Y, Z, C]``."""
        prop: Any = self.propagator
        ckpt = getattr(getattr(prop, "config", None), "gradient_checkpointing", False) and self.training and torch.is_grad_enabled()
        for t in range(steps):
            grid = checkpoint(self.step_grid, grid, t, use_reentrant=False) if ckpt else self.step_grid(grid, t)
        return grid

    def grow(self, state: torch.Tensor, steps: int) -> torch.Tensor:
        """``[B, N, C]`` → the state after ``steps`` steps."""
        g = self.geometry
        return g.to_cells(self.grow_grid(g.to_grid(state.contiguous()), steps))

    def forward(self, inputs: torch.Tensor, steps: int | None = None) -> torch.Tensor:
        """``inputs [B, N, C]`` grown ``steps`` steps (default ``eval_steps``)."""
        return self.grow(inputs, self.eval_steps if steps is None else int(steps))

    # -- the LatticePipeline contract (aa inspect) ----------------------------------------------
    @property
    def input_cells(self) -> torch.Tensor:
        """The centre cell, where the growth datasets plant their seed (the light cone is measured from it)."""
        return self.seed_cells

    def initial_state(self, inputs: torch.Tensor) -> torch.Tensor:
        """The input is a lattice state ``[B, N, C]`` (a seed or a pool state): written as it is."""
        return inputs

    def readout(self, state: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
        """The prediction is the grown state itself ``[B, N, C]``."""
        return state

    def rollout(self, state: torch.Tensor, batch: dict[str, Any]) -> list[torch.Tensor]:
        """Every state of ``forward``: ``state`` and the state after each of the ``eval_steps`` steps."""
        g = self.geometry
        grid = g.to_grid(state.contiguous())
        states = [state]
        for t in range(self.eval_steps):
            grid = self.step_grid(grid, t)
            states.append(g.to_cells(grid))
        return states

    # -- the Pipeline contract (the conformance kit's training step; tasks train with their objective)
    def training_loss(self, batch: dict[str, torch.Tensor], settings: Any) -> torch.Tensor:
        """MSE of the grown state's first channels to ``targets [B, N, c]`` (T random in the range)."""
        out = self.grow(batch["inputs"], self.sample_steps())
        batch["final_state"] = out.detach()
        t = batch["targets"]
        return F.mse_loss(out[..., : t.shape[-1]], t)

    def example_batch(self, size: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
        N, C = self.geometry.num_cells, self.channels
        seed = torch.zeros(size, N, C)
        seed[:, N // 2] = 1.0
        return {"inputs": seed, "targets": torch.rand(size, N, min(4, C), generator=generator)}


def build(config: GrowthConfig, ctx: Any) -> Growth:
    return Growth(config, ctx)


def growth_model(model: nn.Module) -> Growth:
    """The :class:`Growth` pipeline inside ``model`` (unwrapping DDP / compile wrappers)."""
    for m in model.modules():
        if isinstance(m, Growth):
            return m
    raise UserError(f"the growth datasets train the `growth` pipeline; this spec's model is {type(model).__name__} "
                    "(set [pipeline] name = \"growth\")")


class GrowthDataset(ABC):
    """A target ``[N, c]`` on an (X, Y, Z) lattice, grown from ``seed [N, C]`` with a sample pool.

    Subclasses set ``channels`` (state width the cell must have), ``alive_channel``, ``target``,
    ``seed``, ``pool`` and implement :meth:`prediction_scores`. Splits: the pool is ``train``; the
    seed is the one ``validation`` and the one ``test`` example (a growth task has one target: its
    test figures differ from validation's by the random fire masks, not by the data).
    ``batch["sample_loss"]`` (per sample, left by the objective with ``batch["final_state"]``) picks
    the state the pool reseeds.
    """

    name = "growth"
    shape: tuple[int, int, int]
    channels: int
    alive_channel: int
    target: torch.Tensor
    seed: torch.Tensor
    pool: SamplePool
    source: str

    def _hash(self, *parts: Any) -> str:
        h = hashlib.sha256(self.name.encode())
        h.update(self.target.numpy().tobytes())
        for p in parts:
            h.update(repr(p).encode())
        return h.hexdigest()[:16]

    # -- the Dataset contract ------------------------------------------------------------------
    def sizes(self) -> dict[str, int]:
        return {"train": len(self.pool), "validation": 1, "test": 1}

    def batch(self, split: str, index: torch.Tensor) -> dict[str, Any]:
        if split == "train":
            inputs = self.pool.sample(index)
        else:
            inputs = self.seed.unsqueeze(0).repeat(len(index), 1, 1)
        return {"inputs": inputs, "targets": self.target.unsqueeze(0).expand(len(index), -1, -1), "index": index}

    def setup(self, model: nn.Module, ctx: Any) -> None:
        """Check that the model fits the data: the lattice size, the cell's width, the alive channel."""
        g = growth_model(model)
        where = getattr(getattr(ctx, "spec", None), "source", "the spec")
        if tuple(g.geometry.size) != tuple(self.shape):
            raise UserError(f"{where}: [geometry] size = {list(g.geometry.size)} but the {self.name} target {self.source} "
                            f"needs size = {list(self.shape)}; set it so")
        if g.channels != self.channels:
            raise UserError(f"{where}: [cell] channels = {g.channels} but {self.name} needs {self.channels} "
                            f"({self.channel_layout()}); set [cell] channels = {self.channels}")
        for m in g.propagator.modules():  # the nca propagator, or the nca stages of a schedule
            cfg: Any = getattr(m, "config", None)
            if getattr(cfg, "alive_threshold", None) is not None and cfg.alive_channel != self.alive_channel:
                key = "[propagator]" if m is g.propagator else "[propagator.nca]"
                raise UserError(f"{where}: {key} alive_channel = {cfg.alive_channel} but {self.name}'s alive channel is "
                                f"{self.alive_channel} ({self.channel_layout()}); set alive_channel = {self.alive_channel}")

    def channel_layout(self) -> str:
        return ""

    # -- the sample pool (SampledDataset) ------------------------------------------------------
    def after_step(self, batch: dict[str, Any], model: nn.Module) -> None:
        if "final_state" in batch:
            self.pool.write_back(batch["index"], batch["final_state"], batch["sample_loss"])

    def state_tensors(self) -> dict[str, torch.Tensor]:
        return self.pool.state_tensors()

    def load_state_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        self.pool.load_state_tensors(tensors)

    # -- measurement helpers (the objectives and the report grow and damage with these) ---------
    def grow_from_seed(self, model: nn.Module, steps: int | None = None, batch: int = 1, stochastic: bool = True,
                       start: torch.Tensor | None = None, seed: int = VALIDATION_SEED) -> torch.Tensor:
        """Grown states ``[batch, N, C]`` from the seed (or ``start``), no grad; ``stochastic`` keeps
        training's fire masks (a fixed random stream, so the result is repeatable)."""
        g = growth_model(model)
        was = g.training
        g.train(stochastic)
        x = (self.seed.unsqueeze(0).repeat(batch, 1, 1) if start is None else start).to(next(g.parameters()).device)
        try:
            with torch.no_grad(), torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                return g.grow(x, g.eval_steps if steps is None else steps)
        finally:
            g.train(was)

    def damage_ball(self, states: torch.Tensor, centre: torch.Tensor, radius: float) -> torch.Tensor:
        """A copy of ``states [B, N, C]`` with the cells within ``radius`` of ``centre`` zeroed."""
        out = states.clone()
        out[:, ball_mask(self.shape, centre, radius).flatten().to(out.device)] = 0
        return out

    # -- DamagedDataset (aa inspect: grow, damage, regrow) ----------------------------------------
    def damage_site(self) -> tuple[torch.Tensor, float]:
        """(centre ``[3]``, radius in cells) of :meth:`damage`: the centroid of the target's cells, 0.3 × the
        target's smallest side (the pool's damage ``extent``). Override it to damage elsewhere."""
        return self.pool.centres.float().mean(0).round(), 0.3 * self.pool.extent

    def damage(self, states: torch.Tensor) -> torch.Tensor:
        """A copy of ``states [B, N, C]`` with the ball (a disk on a flat lattice) of :meth:`damage_site` zeroed."""
        centre, radius = self.damage_site()
        return self.damage_ball(states, centre, radius)

    # -- DescribedDataset (aa inspect) ----------------------------------------------------------
    @abstractmethod
    def prediction_scores(self, final: torch.Tensor) -> dict[str, float]:
        """The figures of grown states ``[B, N, C]`` that describe a prediction (unprefixed, loss last)."""

    def describe(self, index: int, split: str) -> str:
        """One line for example ``index``: validation and test examples are the seed, training examples are pool states."""
        if split == "train":
            return f"{self.name}: sample-pool state #{index} of {len(self.pool)} → grown further toward {self.source}"
        return f"{self.name}: the seed (one alive cell at the lattice centre) → the pattern grown toward {self.source}"

    def describe_prediction(self, output: torch.Tensor) -> str:
        """The grown state ``[1, N, C]`` scored as validation scores it (every cell fires in ``forward``;
        validation's own figures use training's random fire masks, so they differ)."""
        scores = self.prediction_scores(output.detach().float())
        return "grown pattern: " + ", ".join(f"{k} {v:.4g}" for k, v in scores.items())

    # -- ServableDataset (aa serve's POST /v1/predict) ------------------------------------------
    def input_schema(self) -> dict[str, Any]:
        """No input: ``null`` grows the seed the pipeline's ``eval_steps`` steps; ``{"steps": n}`` grows it n steps."""
        return {"description": f"nothing: null grows {self.name}'s seed (one alive cell at the lattice centre) the model's "
                               f"eval_steps steps; {{\"steps\": n}} grows it n steps (0 to {MAX_SERVED_STEPS})",
                "oneOf": [{"type": "null"},
                          {"type": "object", "additionalProperties": False,
                           "properties": {"steps": {"type": "integer", "minimum": 0, "maximum": MAX_SERVED_STEPS}}}]}

    def parse_input(self, value: Any) -> dict[str, Any]:
        """The seed ``[N, C]`` (and ``steps`` when asked for)."""
        if value is None:
            return {"inputs": self.seed.clone()}
        if not isinstance(value, dict) or set(value) - {"steps"}:
            raise ValueError(f'a growth request is null or {{"steps": n}}, got {value!r}')
        if "steps" not in value:
            return {"inputs": self.seed.clone()}
        steps = value["steps"]
        if type(steps) is not int or not 0 <= steps <= MAX_SERVED_STEPS:
            raise ValueError(f"steps = {steps!r}: give an integer from 0 to {MAX_SERVED_STEPS}")
        return {"inputs": self.seed.clone(), "steps": steps}

    def prediction(self, output: torch.Tensor, example: Any) -> dict[str, Any]:
        """The grown state's figures against the target (:meth:`prediction_scores`); the datasets add the grown pattern."""
        scores = self.prediction_scores(output.detach().float())
        return {"scores": {k: round(float(v), 6) for k, v in scores.items()}}
