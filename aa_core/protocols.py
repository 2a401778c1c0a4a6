"""The protocols every component implements, with their shape contracts.

Batch-first, channels-last. N = number of cells, K = neighbourhood size including the cell
itself (7, 19 or 27), C = state channels, D = embedding width, L = token length.
The conformance kit (:mod:`aa_core.conformance`) checks these contracts for every
registered component, so a plugin is tested by being installed.
"""
from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch


@runtime_checkable
class Geometry(Protocol):
    """Lattice size, neighbourhood, boundary and the input/output faces.

    - ``size``: (X, Y, Z); ``num_cells`` = X·Y·Z; cell id = (x·Y + y)·Z + z.
    - ``offsets``: the K (dx, dy, dz) neighbour offsets in raster order, the cell itself
      at ``center_index``.
    - ``neighbour_index()``: long ``[N, K]``; out-of-lattice neighbours (zero boundary) are ``N``.
    - ``input_cells`` / ``output_cells``: long index sets of the input and output faces.
    """

    size: tuple[int, int, int]
    neighbourhood: int
    boundary: str

    @property
    def num_cells(self) -> int: ...

    @property
    def offsets(self) -> list[tuple[int, int, int]]: ...

    def neighbour_index(self) -> torch.Tensor: ...

    @property
    def input_cells(self) -> torch.Tensor: ...

    @property
    def output_cells(self) -> torch.Tensor: ...


@runtime_checkable
class Cell(Protocol):
    """One shared update rule: neighbourhood states ``[B, N, K, C]`` → update ``[B, N, C]``.

    The same weights serve every cell, and cell i's output depends only on row i of the
    input (its own neighbourhood). Optionally a cell offers ``lattice_forward(state, geometry)``
    with state ``[B, X, Y, Z, C]`` → update ``[B, X, Y, Z, C]``: a faster lattice-wide form
    that must agree with the reference ``forward`` (the conformance kit checks it).
    """

    channels: int

    def forward(self, neighbourhood: torch.Tensor) -> torch.Tensor: ...


@runtime_checkable
class Propagator(Protocol):
    """Moves signal across the lattice: state ``[B, N, C]`` → ``[B, N, C]``.

    A local propagator declares ``light_cone = True`` and its ``steps``: after T steps a
    change at one cell reaches only cells within T hops (in the neighbourhood's metric).
    """

    def forward(self, state: torch.Tensor) -> torch.Tensor: ...


@runtime_checkable
class Tokenizer(Protocol):
    """Text → model input: ``list[str]`` → embeddings ``[B, D]`` (teacher) or ids ``[B, L]`` + mask."""

    embedding_dim: int

    def encode(self, texts: list[str]) -> torch.Tensor: ...


@runtime_checkable
class Adapter(Protocol):
    """Maps a width to another: ``[B, in_dim]`` → ``[B, out_dim]`` (onto or off the lattice faces)."""

    in_dim: int
    out_dim: int

    def forward(self, x: torch.Tensor) -> torch.Tensor: ...


@runtime_checkable
class Decoder(Protocol):
    """Model output → text: ``[B, D]`` (or token logits) → ``list[str]``."""

    def decode(self, outputs: torch.Tensor) -> list[str]: ...


@runtime_checkable
class Pipeline(Protocol):
    """Composes geometry, cell, propagator and adapters into a model.

    ``direct_embedding``: question embedding ``[B, D]`` → predicted answer embedding ``[B, D]``.
    """

    embedding_dim: int

    def forward(self, x: torch.Tensor) -> torch.Tensor: ...
