"""The ``mamba`` propagator: global coordination across the lattice with Mamba blocks.

``state [B, N, C]`` → per layer: ``h = RMSNorm(state)``; read h as sequences in each scan
order (:mod:`aa_mamba.orders`), run a Mamba block (d_model = C) over each, write back and
average the directions; ``state += update``. Flat mode uses the whole lattice as one sequence
(cost linear in N thanks to the chunked scan). Hierarchical mode (``hierarchical = "on"``, or
``"auto"`` above ``hierarchical_above`` cells) splits the lattice into ``chunk`` blocks and
adds two updates: the same blocks run inside every chunk (all chunks as one batch), and over
the sequence of chunk means, broadcast back to each chunk's cells. Memory then scales with
the chunk, not the lattice, and the weights are the same in both modes (a checkpoint moves
between lattice sizes). Padding cells of partial chunks are zeros and are left out of the
chunk means.

Parameters: ``layers · (n_blocks · mamba(C) + C)``, ``n_blocks`` = number of scan directions
(1 with ``tie_directions``), ``mamba(d)`` = :func:`aa_mamba.block.mamba_param_count`.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from .block import MambaBlock, mamba_param_count
from .config import MambaPropagatorConfig
from .orders import inverse, scan_orders


def propagator_param_count(config: MambaPropagatorConfig, channels: int) -> int:
    n_blocks = 1 if config.tie_directions else len(scan_orders(config.order, (1, 1, 2)))
    return config.layers * (n_blocks * mamba_param_count(channels, config.d_state, config.d_conv, config.expand) + channels)


class MambaPropagator(nn.Module):
    light_cone = False
    blocks: nn.ModuleList  # [layers][directions] of MambaBlock
    chunk_weight: torch.Tensor  # [G, Lc, 1] (hierarchical only)
    chunk: tuple[int, int, int]
    grid: tuple[int, int, int]

    def __init__(self, config: MambaPropagatorConfig, geometry, channels: int):
        super().__init__()
        self.config = config
        self.geometry = geometry
        self.channels = channels
        size = tuple(geometry.size)
        self.hierarchical = config.hierarchical == "on" or (config.hierarchical == "auto" and geometry.num_cells > config.hierarchical_above)
        n_dirs = len(scan_orders(config.order, (1, 1, 2)))
        n_blocks = 1 if config.tie_directions else n_dirs
        self.norms = nn.ModuleList(nn.RMSNorm(channels) for _ in range(config.layers))
        self.blocks = nn.ModuleList(
            nn.ModuleList(MambaBlock(channels, config.d_state, config.d_conv, config.expand, backend=config.backend) for _ in range(n_blocks))
            for _ in range(config.layers)
        )
        if config.zero_init:  # start as the identity map (useful between local steps)
            for block in self.modules():
                if isinstance(block, MambaBlock):
                    nn.init.zeros_(block.out_proj.weight)
        if self.hierarchical:
            cx, cy, cz = (min(c, s) for c, s in zip(config.chunk, size))
            self.chunk = (cx, cy, cz)
            self.grid = (math.ceil(size[0] / cx), math.ceil(size[1] / cy), math.ceil(size[2] / cz))
            self._orders("local", scan_orders(config.order, self.chunk))
            self._orders("global", scan_orders(config.order, self.grid))
            pad = [g * c - s for g, c, s in zip(self.grid, self.chunk, size)]
            real = F.pad(torch.ones(1, *size, 1), (0, 0, 0, pad[2], 0, pad[1], 0, pad[0]))
            real = self._split(real)  # [G, Lc, 1]
            self.register_buffer("chunk_weight", real / real.sum(1, keepdim=True), persistent=False)
        else:
            self._orders("flat", scan_orders(config.order, size))

    def _orders(self, name: str, perms: list[torch.Tensor]) -> None:
        for i, p in enumerate(perms):
            self.register_buffer(f"{name}_perm{i}", p, persistent=False)
            self.register_buffer(f"{name}_inv{i}", inverse(p), persistent=False)
        setattr(self, f"n_{name}", len(perms))

    def _pass(self, seq: torch.Tensor, name: str, layer: int) -> torch.Tensor:
        """Mean over scan directions of block(seq in that order), back in id order. ``[B, L, C]``."""
        n: int = getattr(self, f"n_{name}")
        out: torch.Tensor | int = 0
        layer_blocks: nn.ModuleList = self.blocks[layer]  # type: ignore[assignment]  # a ModuleList of MambaBlock
        for i in range(n):
            block = layer_blocks[0 if self.config.tie_directions else i]
            y = block(seq.index_select(1, getattr(self, f"{name}_perm{i}")))
            out = out + y.index_select(1, getattr(self, f"{name}_inv{i}"))
        assert isinstance(out, torch.Tensor)  # n >= 1 scan directions
        return out / n

    def _split(self, grid: torch.Tensor) -> torch.Tensor:
        """``[B, X', Y', Z', C]`` (padded) → ``[B·G, Lc, C]``, chunk-major in chunk-id order."""
        cx, cy, cz = self.chunk
        return rearrange(grid, "b (gx cx) (gy cy) (gz cz) c -> (b gx gy gz) (cx cy cz) c", cx=cx, cy=cy, cz=cz)

    def _hierarchical_update(self, h: torch.Tensor, layer: int) -> torch.Tensor:
        g, (X, Y, Z) = self.geometry, self.geometry.size
        B, C = h.shape[0], h.shape[-1]
        pad = [gg * c - s for gg, c, s in zip(self.grid, self.chunk, (X, Y, Z))]
        grid = F.pad(g.to_grid(h), (0, 0, 0, pad[2], 0, pad[1], 0, pad[0]))  # [B, X', Y', Z', C]
        chunks = self._split(grid)  # [B·G, Lc, C]
        local = self._pass(chunks, "local", layer)  # inside each chunk
        G = self.chunk_weight.shape[0]
        means = (chunks.view(B, G, -1, C) * self.chunk_weight).sum(2)  # [B, G, C] means of real cells
        glob = self._pass(means, "global", layer)  # across chunks
        upd = local.view(B, G, -1, C) + glob.unsqueeze(2)
        gx, gy, gz = self.grid
        cx, cy, cz = self.chunk
        upd = rearrange(upd, "b (gx gy gz) (cx cy cz) c -> b (gx cx) (gy cy) (gz cz) c", gx=gx, gy=gy, gz=gz, cx=cx, cy=cy, cz=cz)
        return g.to_cells(upd[:, :X, :Y, :Z].contiguous())

    def forward(self, state: torch.Tensor) -> torch.Tensor:
        for layer in range(self.config.layers):
            h = self.norms[layer](state)
            upd = self._hierarchical_update(h, layer) if self.hierarchical else self._pass(h, "flat", layer)
            state = state + upd.to(state.dtype)
        return state


def build(config: MambaPropagatorConfig, ctx) -> MambaPropagator:
    return MambaPropagator(config, ctx.geometry, ctx.cell.channels)
