"""The ``ca_classifier`` pipeline: inputs written onto lattice cells, T cell updates, class logits per cell.

Generic over the task: MNIST-1D (a line or a folded 3D shape, the class read as the consensus —
the mean — of the cells' logits), self-classifying digits (every alive cell classifies, the pixel
held fixed) and 1D-ARC (every cell outputs its colour). The task's objective component owns the
loss and the metrics; this module owns the lattice roll-out.

``forward(inputs [B, N_in, F], mask=None, steps=None, state=None, trajectory=False)`` → logits
``[B, N_read, classes]`` (with ``trajectory``: a list of them, one per step, and the final state).
``mask [B, N_in]``: cells outside it are held at zero (dead cells, Randazzo et al. 2020).
The propagator is stepped one update at a time: ``step(state)`` (the core's ``nca``), or
``step_at(state, t)`` where updates differ (aa-mamba's ``schedule``: T defaults to its ``period``).

It is a :class:`aa_core.protocols.LatticePipeline` (``initial_state``, ``readout(state, inputs)``,
``input_cells``), so ``aa inspect`` pictures it; ``rollout(state, batch)`` gives the states exactly as
``forward`` steps them (dead cells, clamped inputs, ``steps``). The per-cell linear map is ``head``;
checkpoints that named it ``readout`` load (the old keys are renamed on load).
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from aa_core.plugin import UserError
from aa_core.protocols import ScheduledPropagator, SteppedPropagator

from .classifier_config import CAClassifierConfig


def snake_order(size: tuple[int, int, int]) -> torch.Tensor:
    """Cell ids of an X×Y×Z lattice in boustrophedon order: consecutive ids are lattice neighbours."""
    X, Y, Z = size
    out: list[int] = []
    line = 0
    for x in range(X):
        ys = range(Y) if x % 2 == 0 else range(Y - 1, -1, -1)
        for y in ys:
            zs = range(Z) if line % 2 == 0 else range(Z - 1, -1, -1)
            out.extend((x * Y + y) * Z + z for z in zs)
            line += 1
    return torch.tensor(out, dtype=torch.long)


def consensus_logits(logits: torch.Tensor) -> torch.Tensor:
    """``[B, N, K]`` per-cell logits (or ``[B, K]``) → ``[B, K]``: the mean over cells."""
    return logits.mean(1) if logits.dim() == 3 else logits


class CAClassifier(nn.Module):
    in_cells: torch.Tensor  # buffers
    read_cells: torch.Tensor

    def __init__(self, config: CAClassifierConfig, ctx: Any):
        super().__init__()
        self.config = config
        self.geometry = ctx.geometry
        self.cell = ctx.cell
        self.propagator = ctx.propagator
        self.channels = int(self.cell.channels)
        self.classes = config.classes
        self.in_features = config.in_features
        C, Fin, N = self.channels, config.in_features, self.geometry.num_cells
        if config.write == "copy" and Fin > C:
            raise UserError(f"pipeline.in_features = {Fin} does not fit the cell's {C} channels with write = \"copy\"; "
                            "use more cell channels or write = \"linear\"")
        if config.readout == "channels" and config.classes + (Fin if config.write == "copy" else 0) > C:
            raise UserError(f"readout = \"channels\" needs {config.classes} class channels besides the {Fin} input channels, "
                            f"but the cell has {C}; raise cell.channels")
        if config.place == "input_face":
            cells = self.geometry.input_cells.clone()
        elif config.place == "snake":
            cells = snake_order(self.geometry.size)
        else:
            cells = torch.arange(N)
        self.register_buffer("in_cells", cells, persistent=False)
        read = self.geometry.output_cells.clone() if config.read == "output_face" else cells.clone()
        self.register_buffer("read_cells", read, persistent=False)
        self.write = nn.Linear(Fin, C) if config.write == "linear" else None
        self.head = nn.Linear(C, config.classes) if config.readout == "linear" else None
        prop = self.propagator
        # how the roll-out steps it, decided once (see _step)
        self._scheduled, self._stepped = isinstance(prop, ScheduledPropagator), isinstance(prop, SteppedPropagator)
        default = prop.period if self._scheduled else getattr(prop, "steps", 1)  # a schedule: one pass
        self.steps = config.steps if config.steps is not None else int(default)

    @property
    def input_cells(self) -> torch.Tensor:
        """The cells the inputs are written to, in input order (the LatticePipeline member)."""
        return self.in_cells

    def _load_from_state_dict(self, state_dict: Any, prefix: str, *args: Any, **kwargs: Any) -> None:
        # checkpoints written before the layer was renamed: ``readout.*`` → ``head.*``
        for name in ("weight", "bias"):
            old, new = f"{prefix}readout.{name}", f"{prefix}head.{name}"
            if old in state_dict and new not in state_dict:
                state_dict[new] = state_dict.pop(old)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    # ---- the roll-out ------------------------------------------------------------------------
    def _scatter(self, x: torch.Tensor, width: int) -> torch.Tensor:
        """``[B, n ≤ N_in, width]`` in input order → ``[B, N, width]`` on the lattice (zeros elsewhere)."""
        B, n = x.shape[:2]
        if n > len(self.in_cells):
            raise UserError(f"{n} inputs per sample do not fit the lattice's {len(self.in_cells)} input cells "
                            f"(geometry.size = {list(self.geometry.size)}, pipeline.place = {self.config.place!r}): enlarge geometry.size")
        out = x.new_zeros(B, self.geometry.num_cells, width)
        return out.index_copy(1, self.in_cells[:n], x)

    def initial_state(self, inputs: torch.Tensor) -> torch.Tensor:
        """The lattice before step 1: inputs written onto their cells, zeros elsewhere ``[B, N, C]``."""
        if self.write is not None:
            return self._scatter(self.write(inputs), self.channels)
        return self._scatter(F.pad(inputs, (0, self.channels - inputs.shape[-1])), self.channels)

    def logits(self, state: torch.Tensor) -> torch.Tensor:
        """Per-cell logits of the read cells ``[B, N_read, classes]``."""
        cells = state.index_select(1, self.read_cells)
        if self.head is not None:
            return self.head(cells)
        return cells[..., self.channels - self.classes:]

    def readout(self, state: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
        """The prediction from a lattice state (the LatticePipeline member): the read cells' logits
        ``[B, N_read, classes]``, what ``forward`` returns for its final state."""
        return self.logits(state)

    def _step(self, state: torch.Tensor, t: int) -> torch.Tensor:
        """Update ``t`` of the roll-out (see :class:`~aa_core.protocols.ScheduledPropagator`)."""
        if self._scheduled:
            return self.propagator.step_at(state, t)
        if self._stepped:
            return self.propagator.step(state)
        raise UserError("ca_classifier steps the lattice one update at a time: the [propagator] must have step() "
                        "(the core's `nca` propagator) or step_at() (aa-mamba's `schedule`); see aa_core.protocols.SteppedPropagator")

    def _states(self, x: torch.Tensor, mask: torch.Tensor | None, steps: int, state: torch.Tensor) -> Iterator[torch.Tensor]:
        """The roll-out from ``state``: the start (dead cells zeroed), then the state after every step."""
        alive = None if mask is None else self._scatter(mask.to(state.dtype).unsqueeze(-1), 1)  # [B, N, 1]
        if alive is not None:
            state = state * alive
        yield state
        fixed: tuple[torch.Tensor, torch.Tensor] | None = None  # (where, values) of the clamped input channels
        if self.config.clamp_input:
            Fin = x.shape[-1]
            sel = torch.zeros(self.geometry.num_cells, self.channels, dtype=torch.bool, device=x.device)
            sel[self.in_cells[: x.shape[1]], :Fin] = True
            fixed = sel, self._scatter(F.pad(x, (0, self.channels - Fin)), self.channels)
        for t in range(steps):
            state = self._step(state, t)
            if self.training and self.config.noise > 0:
                state = state + self.config.noise * torch.randn_like(state)
            if fixed is not None:
                state = torch.where(fixed[0], fixed[1], state)
            if alive is not None:
                state = state * alive
            yield state

    def forward(self, inputs: torch.Tensor, mask: torch.Tensor | None = None, steps: int | None = None,
                state: torch.Tensor | None = None, trajectory: bool = False) -> Any:
        T = self.steps if steps is None else steps
        x = inputs.to(torch.float32)
        states = self._states(x, mask, T, self.initial_state(x) if state is None else state)
        state = next(states)
        frames = []
        for state in states:
            if trajectory:
                frames.append(self.logits(state))
        if trajectory:
            return frames, state
        return self.logits(state)

    def rollout(self, state: torch.Tensor, batch: dict[str, Any]) -> list[torch.Tensor]:
        """Every state from ``state`` (``initial_state`` of ``batch["inputs"]``) to the last of ``self.steps``,
        stepped as ``forward`` steps it (``batch["mask"]``: dead cells; clamped inputs), for ``aa inspect``."""
        return list(self._states(batch["inputs"].to(torch.float32), batch.get("mask"), self.steps, state))

    # ---- the Pipeline contract (the conformance kit's training step; tasks train with their objective) --
    def training_loss(self, batch: dict[str, Any], settings: Any) -> torch.Tensor:
        return F.cross_entropy(consensus_logits(self(batch["inputs"], batch.get("mask"))), batch["targets"])

    def example_batch(self, size: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
        n = min(len(self.in_cells), 8)
        return {"inputs": torch.randn(size, n, self.in_features, generator=generator),
                "targets": torch.randint(0, self.classes, (size,), generator=generator)}


def build(config: CAClassifierConfig, ctx: Any) -> CAClassifier:
    return CAClassifier(config, ctx)
