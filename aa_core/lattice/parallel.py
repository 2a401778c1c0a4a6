"""Lattice-parallel propagation: the lattice cut into slabs along x, one slab per rank.

Each rank holds planes ``[x0, x1)`` of the state (:func:`partition`: as even as possible).
Every local step needs one plane beyond each side (the neighbourhood reaches one cell), so
before each step a rank sends its first plane to the rank below and its last plane to the rank
above, and receives their boundary planes as halos (``torch.distributed`` isend/irecv; gloo on
CPU, nccl on CUDA) — the halo exchange of HPC stencil codes. The exchange is overlapped with
the update of the slab's interior: the cell runs on the slab alone while the planes are in
flight (correct everywhere but the two boundary planes), then the two boundary planes are
recomputed from three-plane pieces with their halos.

- Boundaries: ``zero`` (the first and last rank have no neighbour on the outside; the slab
  geometry pads zeros) and ``periodic`` (rank 0 and the last rank exchange with each other);
  y and z keep the lattice's own rule.
- Training: the exchange is differentiable (:class:`_Halo`: the backward pass sends each halo's
  gradient back to the rank owning the plane), so ``loss.backward()`` works across ranks; the
  cell's parameter gradients are then partial sums per slab: :func:`allreduce_gradients`.
  ``gradient_checkpointing`` of the ``nca`` config applies per step.
- Inference: the chunked no-grad path of :mod:`aa_core.lattice.nca` runs on each rank's slab
  (chunks of ``chunk_planes``, updated in place), with the received planes as the outer halos.
- ``fire_rate < 1`` draws the fire mask for the whole lattice on every rank from the same
  generator state and keeps the slab's part, so results equal the single-process run.
- The ``nca_parallel`` propagator component (:class:`ParallelNCA`) makes this a spec choice:
  under a torchrun launch every process runs the whole model on the whole batch except the
  propagation, which each runs on its slab (scatter → steps with halos → gather); its cell's
  gradients are summed over the ranks in the backward pass, so every rank takes the same
  optimizer step. In one process it is the plain ``nca`` (same weights, same state-dict keys).
- Only the ``nca`` propagator is split. A global Mamba pass (or any propagator without a light
  cone) is refused with a :class:`UserError`: its scan reads the whole lattice in one order,
  and passing the scan state between ranks is not implemented.

:class:`SlabPropagator` runs a built ``nca`` propagator on the local slab ``[B, n·Y·Z, C]``;
:func:`scatter` / :func:`gather` move between the whole state and the slabs (both
differentiable).
"""
from __future__ import annotations

from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.func import functional_call
from torch.utils.checkpoint import checkpoint

from .._errors import UserError
from .config import NCAParallelConfig
from .nca import NCAPropagator

_UP, _DOWN, _GRAD_UP, _GRAD_DOWN, _ALIVE_UP, _ALIVE_DOWN = 11, 12, 13, 14, 15, 16  # message tags


def partition(X: int, world: int) -> list[tuple[int, int]]:
    """``[x0, x1)`` of every rank: ``X`` planes split as evenly as possible (the first ranks get the extra)."""
    if world < 1 or X < world:
        raise UserError(f"cannot split a lattice of {X} x-planes across {world} ranks: every rank needs at least one plane "
                        "(use fewer processes or a larger lattice.size[0])")
    base, extra = divmod(X, world)
    out, x0 = [], 0
    for r in range(world):
        n = base + (1 if r < extra else 0)
        out.append((x0, x0 + n))
        x0 += n
    return out


class SlabComm:
    """This rank's slab of an ``X``-plane lattice and its neighbouring ranks (``None``: no neighbour)."""

    def __init__(self, X: int, periodic_x: bool, group: Any = None):
        self.group = group
        self.world = dist.get_world_size(group) if dist.is_initialized() else 1
        self.rank = dist.get_rank(group) if dist.is_initialized() else 0
        self.X, self.periodic_x = X, periodic_x
        self.slabs = partition(X, self.world)
        self.x0, self.x1 = self.slabs[self.rank]
        self.lower = (self.rank - 1) % self.world if (self.rank > 0 or periodic_x) else None
        self.upper = (self.rank + 1) % self.world if (self.rank < self.world - 1 or periodic_x) else None

    @property
    def planes(self) -> int:
        return self.x1 - self.x0

    def _peer(self, r: int) -> int:
        return r if self.group is None else dist.get_global_rank(self.group, r)

    def exchange(self, first: torch.Tensor, last: torch.Tensor, tags: tuple[int, int] = (_UP, _DOWN)) -> _Pending:
        """Start sending ``first`` down and ``last`` up; :meth:`_Pending.wait` gives (lower halo, upper halo).

        Sends go up then down, receives from below then above: with two ranks and periodic
        boundaries both messages travel between the same pair, and this order pairs them even
        where tags are ignored (nccl)."""
        if self.world == 1:
            return _Pending([], last if self.lower is not None else None, first if self.upper is not None else None, [])
        up, down = tags
        first, last = first.contiguous(), last.contiguous()
        lo = torch.empty_like(last) if self.lower is not None else None
        hi = torch.empty_like(first) if self.upper is not None else None
        works = []
        if self.upper is not None:
            works.append(dist.isend(last, self._peer(self.upper), self.group, tag=up))
        if self.lower is not None:
            works.append(dist.isend(first, self._peer(self.lower), self.group, tag=down))
        if lo is not None:
            works.append(dist.irecv(lo, self._peer(self.lower), self.group, tag=up))  # type: ignore[arg-type]  # lower is set
        if hi is not None:
            works.append(dist.irecv(hi, self._peer(self.upper), self.group, tag=down))  # type: ignore[arg-type]  # upper is set
        return _Pending(works, lo, hi, [first, last])


class _Pending:
    """Halo planes in flight; ``wait()`` → ``(lower, upper)`` (``None`` where there is no neighbour)."""

    def __init__(self, works: list, lo: torch.Tensor | None, hi: torch.Tensor | None, keep: list[torch.Tensor]):
        self.works, self.lo, self.hi, self.keep = works, lo, hi, keep

    def wait(self) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        for w in self.works:
            w.wait()
        self.works, self.keep = [], []
        return self.lo, self.hi


class _Halo(torch.autograd.Function):
    """Attach received halos to the graph: their gradients go back to the ranks that own the planes."""

    @staticmethod
    def forward(ctx: Any, first: torch.Tensor, last: torch.Tensor, comm: SlabComm, bufs: list) -> tuple[torch.Tensor, torch.Tensor]:
        ctx.comm = comm
        ctx.has = (comm.lower is not None, comm.upper is not None)
        lo, hi = bufs
        return lo.clone(), hi.clone()

    @staticmethod
    def backward(ctx: Any, g_lo: torch.Tensor, g_hi: torch.Tensor) -> tuple[Any, ...]:
        comm: SlabComm = ctx.comm
        has_lo, has_hi = ctx.has
        # my lower halo is the lower rank's last plane: its gradient travels down; the upper halo's up
        # (a side without a neighbour sends nothing; the other side's plane only gives the buffer its shape)
        pending = comm.exchange(g_lo if has_lo else g_hi, g_hi if has_hi else g_lo, (_GRAD_UP, _GRAD_DOWN))
        g_first, g_last = pending.wait()  # from below: the gradient of my first plane; from above: of my last
        return g_first, g_last, None, None


class SlabPropagator(nn.Module):
    """Run a built ``nca`` propagator's T steps on this rank's slab ``[B, n·Y·Z, C]`` (see the module doc)."""

    def __init__(self, propagator: nn.Module, comm: SlabComm | None = None, overlap: bool = True):
        super().__init__()
        if not isinstance(propagator, NCAPropagator):
            kind = type(propagator).__name__
            raise UserError(f"lattice-parallel propagation splits only the nca propagator (T local steps with a one-cell reach); "
                            f"this spec's propagator is {kind}, whose pass is not local (a Mamba scan reads the whole lattice "
                            "in one order, and passing its scan state between ranks is not implemented). Use propagator = "
                            '"nca" for lattice-parallel runs, or data-parallel training (torchrun) for this model')
        self.propagator = propagator
        g = propagator.geometry
        self.comm = comm or SlabComm(g.size[0], g.periodic_axes[0])
        self.overlap = overlap

    @property
    def geometry(self):  # noqa: ANN201 - a Lattice
        return self.propagator.geometry

    def _geom(self, planes: int):  # noqa: ANN202
        return self.propagator._slab_geometry(planes)

    def to_grid(self, state: torch.Tensor) -> torch.Tensor:
        _, Y, Z = self.geometry.size
        return state.reshape(state.shape[0], self.comm.planes, Y, Z, state.shape[-1])

    # ---- one step, whole slab (grad or not) ----------------------------------------------------
    def _halos(self, grid: torch.Tensor) -> tuple[_Pending, bool]:
        first, last = grid[:, :1], grid[:, -1:]
        track = torch.is_grad_enabled() and grid.requires_grad
        return self.comm.exchange(first.detach(), last.detach()), track

    def _attach(self, grid: torch.Tensor, pending: _Pending, track: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """Received halos as tensors (zero planes thick where there is no neighbour), in the graph when training."""
        lo, hi = pending.wait()
        empty = grid.new_zeros((grid.shape[0], 0) + grid.shape[2:])
        lo = empty if lo is None else lo
        hi = empty if hi is None else hi
        if track:
            lo, hi = _Halo.apply(grid[:, :1], grid[:, -1:], self.comm, [lo, hi])
        return lo, hi

    def _delta(self, grid: torch.Tensor) -> torch.Tensor:
        p, n = self.propagator, grid.shape[1]
        pending, track = self._halos(grid)
        if not (self.overlap and n >= 3):
            lo, hi = self._attach(grid, pending, track)
            h = torch.cat([lo, grid, hi], 1)
            a = lo.shape[1]
            return p._delta(h, self._geom(h.shape[1]))[:, a : a + n]
        inner = p._delta(grid, self._geom(n))  # while the halos travel: right everywhere but the boundary planes
        lo, hi = self._attach(grid, pending, track)
        first = inner[:, :1] if lo.shape[1] == 0 else p._delta(torch.cat([lo, grid[:, :2]], 1), self._geom(3))[:, 1:2]
        last = inner[:, -1:] if hi.shape[1] == 0 else p._delta(torch.cat([grid[:, -2:], hi], 1), self._geom(3))[:, 1:2]
        return torch.cat([first, inner[:, 1 : n - 1], last], 1)

    def _fire(self, grid: torch.Tensor) -> torch.Tensor | None:
        """The single-process fire mask's slab part (the whole lattice's draw, same generator state on every rank)."""
        p = self.propagator
        if not (p.training and p.config.fire_rate < 1.0):
            return None
        B, _, Y, Z, _ = grid.shape
        full = torch.rand((B, self.comm.X, Y, Z, 1), device=grid.device)
        return full[:, self.comm.x0 : self.comm.x1] < p.config.fire_rate

    def _alive(self, grid: torch.Tensor) -> torch.Tensor:
        """The alive mask of the slab, from the alive channel with its halos (no gradient)."""
        c = self.propagator.config.alive_channel
        a = grid[..., c : c + 1].detach()
        lo, hi = self.comm.exchange(a[:, :1], a[:, -1:], (_ALIVE_UP, _ALIVE_DOWN)).wait()
        parts = [t for t in (lo, a, hi) if t is not None]
        h = torch.cat(parts, 1)
        start = 0 if lo is None else 1
        return self.propagator._alive(h, self._geom(h.shape[1]))[:, start : start + grid.shape[1]]

    def step_grid(self, grid: torch.Tensor) -> torch.Tensor:
        """One step on the slab ``[B, n, Y, Z, C]``."""
        p = self.propagator
        alive = p.config.alive_threshold is not None
        pre = self._alive(grid) if alive else None
        delta = self._delta(grid)
        fire = self._fire(grid)
        if fire is not None:
            delta = delta * fire.to(delta.dtype)
        new = grid + delta
        if pre is not None:
            new = new * (pre & self._alive(new)).to(new.dtype)
        return p._post(new)

    # ---- chunked, in place, no grad ------------------------------------------------------------
    def _chunked_step(self, grid: torch.Tensor, planes: int) -> None:
        """One step of the slab in place, in chunks of ``planes``; the interior chunks run while the halos travel."""
        p, n = self.propagator, grid.shape[1]
        alive = p.config.alive_threshold is not None
        pre = self._alive(grid) if alive else None
        pending = self.comm.exchange(grid[:, :1].clone(), grid[:, -1:].clone())
        starts = list(range(0, n, planes))
        ends = [min(n, s + planes) for s in starts]
        halo: tuple[torch.Tensor | None, torch.Tensor | None] | None = None
        first_upper = grid[:, ends[0] : ends[0] + 1].clone() if len(starts) > 1 else None  # old plane after chunk 0
        lower = grid[:, ends[0] - 1 : ends[0]].clone()  # old last plane of chunk 0: the lower halo of chunk 1
        for k in [*range(1, len(starts)), 0]:
            x0, x1 = starts[k], ends[k]
            if x1 == n or k == 0:
                halo = halo or pending.wait()
            lo = halo[0] if k == 0 else lower  # type: ignore[index]  # waited for chunk 0
            hi = (halo[1] if x1 == n else grid[:, x1 : x1 + 1]) if k != 0 or len(starts) == 1 else first_upper  # type: ignore[index]
            if k != 0:
                lower = grid[:, x1 - 1 : x1].clone()
            parts = [t for t in (lo, grid[:, x0:x1], hi) if t is not None]
            slab = torch.cat(parts, 1)
            a = 0 if lo is None else 1
            grid[:, x0:x1] = p._stepped(slab, self._geom(slab.shape[1]))[:, a : a + x1 - x0]
            del slab
        if pre is not None:
            grid.mul_((pre & self._alive(grid)).to(grid.dtype))
        if hasattr(p.cell, "post_update"):
            grid.copy_(p._post(grid))

    # ---- T steps ---------------------------------------------------------------------------------
    def forward(self, state: torch.Tensor) -> torch.Tensor:
        """``[B, n·Y·Z, C]`` (this rank's planes) → the same after T steps; every rank must call it together."""
        p = self.propagator
        grid = self.to_grid(state.contiguous())
        planes = p.chunk_planes_for(state)
        if planes is not None and p.steps > 0:
            grid = grid.clone()
            for _ in range(p.steps):
                self._chunked_step(grid, planes)
            return grid.reshape(state.shape)
        for _ in range(p.steps):
            if p.config.gradient_checkpointing and p.training and grid.requires_grad:
                grid = checkpoint(self.step_grid, grid, use_reentrant=False)
            else:
                grid = self.step_grid(grid)
        return grid.reshape(state.shape)


# ---- between the whole state and the slabs -----------------------------------------------------
def _slab_of(state: torch.Tensor, comm: SlabComm, Y: int, Z: int) -> torch.Tensor:
    return state[:, comm.x0 * Y * Z : comm.x1 * Y * Z]


def _all_slabs(local: torch.Tensor, comm: SlabComm, Y: int, Z: int) -> torch.Tensor:
    """Every rank's ``[B, n_r·Y·Z, C]`` joined in x order (gloo's all_gather needs equal sizes: padded)."""
    if comm.world == 1:
        return local
    most = max(x1 - x0 for x0, x1 in comm.slabs) * Y * Z
    padded = torch.cat([local, local.new_zeros(local.shape[0], most - local.shape[1], local.shape[2])], 1).contiguous()
    parts = [torch.empty_like(padded) for _ in range(comm.world)]
    dist.all_gather(parts, padded, group=comm.group)
    return torch.cat([t[:, : (x1 - x0) * Y * Z] for t, (x0, x1) in zip(parts, comm.slabs)], 1)


class _Scatter(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, state: torch.Tensor, comm: SlabComm, Y: int, Z: int) -> torch.Tensor:
        ctx.args = (comm, Y, Z)
        return _slab_of(state, comm, Y, Z).clone()

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[Any, ...]:
        return _all_slabs(grad.contiguous(), *ctx.args), None, None, None


class _Gather(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, local: torch.Tensor, comm: SlabComm, Y: int, Z: int) -> torch.Tensor:
        ctx.args = (comm, Y, Z)
        return _all_slabs(local.contiguous(), comm, Y, Z)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[Any, ...]:
        return _slab_of(grad, *ctx.args).contiguous(), None, None, None


def scatter(state: torch.Tensor, slab: SlabPropagator) -> torch.Tensor:
    """This rank's slab of the whole state ``[B, N, C]`` (identical on every rank); the backward pass
    joins the slabs' gradients, so the whole state's gradient is again identical on every rank."""
    _, Y, Z = slab.geometry.size
    return _Scatter.apply(state, slab.comm, Y, Z)


def gather(local: torch.Tensor, slab: SlabPropagator) -> torch.Tensor:
    """The whole state ``[B, N, C]`` on every rank from the slabs (backward: each rank keeps its part)."""
    _, Y, Z = slab.geometry.size
    return _Gather.apply(local, slab.comm, Y, Z)


def allreduce_gradients(module: nn.Module, group: Any = None) -> None:
    """Sum the gradients of ``module``'s parameters over the ranks (each slab gave a partial sum)."""
    if not dist.is_initialized() or dist.get_world_size(group) == 1:
        return
    grads = [q.grad for q in module.parameters() if q.grad is not None]
    if grads:
        flat = torch.cat([g.reshape(-1) for g in grads])
        dist.all_reduce(flat, group=group)
        i = 0
        for g in grads:
            g.copy_(flat[i : i + g.numel()].view_as(g))
            i += g.numel()


class _SumGradsOverRanks(torch.autograd.Function):
    """Identity on the cell's parameters; the backward pass sums their gradients over the ranks."""

    @staticmethod
    def forward(ctx: Any, group: Any, *params: torch.Tensor) -> tuple[torch.Tensor, ...]:
        ctx.group = group
        return tuple(q.clone() for q in params)

    @staticmethod
    def backward(ctx: Any, *grads: torch.Tensor) -> tuple[Any, ...]:
        flat = torch.cat([g.reshape(-1) for g in grads])
        dist.all_reduce(flat, group=ctx.group)
        out, i = [], 0
        for g in grads:
            out.append(flat[i : i + g.numel()].view_as(g))
            i += g.numel()
        return (None, *out)


class ParallelNCA(NCAPropagator):
    """The ``nca_parallel`` propagator: :class:`NCAPropagator` whose steps run slab-parallel under torchrun."""

    lattice_parallel = True  # the training loop gives every rank the whole batch (see aa_core.train.distributed)
    config: NCAParallelConfig

    def __init__(self, config: NCAParallelConfig, geometry, cell: nn.Module):
        super().__init__(config, geometry, cell)
        self._runner: list[SlabPropagator] = []  # not a submodule: the weights stay this module's own

    def forward(self, state: torch.Tensor) -> torch.Tensor:
        if not (dist.is_initialized() and dist.get_world_size() > 1):
            return super().forward(state)
        if not self._runner:
            self._runner.append(SlabPropagator(self, overlap=self.config.overlap))
        slab = self._runner[0]
        local = scatter(state, slab)
        names, params = zip(*self.named_parameters()) if any(True for _ in self.parameters()) else ((), ())
        if torch.is_grad_enabled() and any(q.requires_grad for q in params):
            synced = _SumGradsOverRanks.apply(slab.comm.group, *params)
            out = functional_call(slab, {f"propagator.{n}": t for n, t in zip(names, synced)}, (local,))
        else:
            out = slab(local)
        return gather(out, slab)


def build_parallel(config: NCAParallelConfig, ctx) -> ParallelNCA:
    return ParallelNCA(config, ctx.geometry, ctx.cell)
