"""The contract: every kind of component, its shapes and its semantics.

Batch-first, channels-last. N = number of cells, K = neighbourhood size including the cell
itself (7, 19 or 27), C = state channels, D = embedding width, L = token length.

This module is what the core is typed with and what the conformance kit
(:mod:`aa_core.conformance`) checks first (``isinstance(obj, Protocol)``) before testing the
behaviour. A component written against these protocols alone passes the kit. Optional
capabilities are separate protocols (``LatticeCell``, ``MaskedLatticeCell``, ``PostUpdateCell``, ``StatefulComponent``,
``RetrievalDecoder``, ``GenerativeDecoder``, ``LocalPropagator``, ``SteppedPropagator``,
``ScheduledPropagator``, ``LatticeParallelPropagator``, ``PicturedDataset``, ``DamagedDataset``,
``AuxiliaryLoss``, ``OwnedDecoder``, ``GenerativePipeline``, ``DescribedDataset``, ``ServableDataset``): implement them to
opt in; the code tests them with ``isinstance``, never by probing attribute names.

Training (the Lightning split): a task contributes a ``Dataset`` (data only: sizes per split, a
batch by index, optional lifecycle hooks and a sample pool) and an ``Objective`` (the maths: loss,
validation and test metrics, selection, optimizers); the model is pipeline + components. The core's
trainer (:mod:`aa_core.train`) owns the loop, and ``Callback`` objects everything around it
(progress, checkpoints, the pool write-back, time budgets, per-step logs). ``TrainablePipeline`` and
``TaskObjective`` (the maths on the pipeline or on the dataset) are the older form, still trained
with a DeprecationWarning.

Update semantics (the ``nca`` propagator, and any engine that evaluates cells): a cell's
output is a **residual update**. One step is::

    grid ← grid + fire ⊙ cell(neighbourhood(grid))      # fire: all ones in eval mode
    grid ← alive-mask(grid)                             # only when alive_threshold is set
    grid ← cell.post_update(grid)                       # only when the cell has post_update

so a cell that wants "the new state is f(neighbourhood)" returns ``f(...) − own state``, and a
Lenia-style cell that needs its state clamped implements ``post_update``.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import torch


@runtime_checkable
class Geometry(Protocol):
    """Lattice size, neighbourhood, boundary, the input/output faces and the layouts of the state.

    - ``size`` (X, Y, Z); ``num_cells`` = X·Y·Z; cell id = (x·Y + y)·Z + z (raster order).
    - ``offsets``: the K (dx, dy, dz) neighbour offsets in raster order over the 3×3×3 cube,
      the cell itself at ``center_index``; ``k`` = K; ``stencil_positions`` ``[K]`` their flat
      positions (0..26) in the cube, ``stencil_mask()`` the ``[3, 3, 3]`` 0/1 mask.
    - ``neighbour_index()``: long ``[N, K]``; out-of-lattice neighbours (zero boundary) are ``N``.
    - ``gather(state [B, N, C])`` → ``[B, N, K, C]`` (zeros outside): the reference neighbourhood.
    - ``to_grid`` / ``to_cells``: ``[B, N, C]`` ↔ ``[B, X, Y, Z, C]`` (views of the same memory).
    - ``pad(grid [B, C, X, Y, Z], width)``: channels-first padding by the boundary rule;
      ``periodic_axes`` the rule per axis, ``all_zero_boundary`` when no axis wraps.
    - ``slab(planes)``: the same geometry cut to ``planes`` x-planes with a zero boundary in x
      (chunked evaluation with halos).
    - ``hop_distance(cell)`` ``[N]``: hops from ``cell`` under the neighbourhood (light cones).
    - ``input_cells`` / ``output_cells``: long index sets of the input and output faces.
    """

    size: tuple[int, int, int]
    neighbourhood: int
    boundary: str
    periodic_axes: tuple[bool, bool, bool]

    @property
    def num_cells(self) -> int: ...

    @property
    def offsets(self) -> list[tuple[int, int, int]]: ...

    @property
    def k(self) -> int: ...

    @property
    def center_index(self) -> int: ...

    @property
    def stencil_positions(self) -> torch.Tensor: ...

    @property
    def all_zero_boundary(self) -> bool: ...

    @property
    def input_cells(self) -> torch.Tensor: ...

    @property
    def output_cells(self) -> torch.Tensor: ...

    def stencil_mask(self) -> torch.Tensor: ...

    def neighbour_index(self) -> torch.Tensor: ...

    def gather(self, state: torch.Tensor) -> torch.Tensor: ...

    def to_grid(self, state: torch.Tensor) -> torch.Tensor: ...

    def to_cells(self, grid: torch.Tensor) -> torch.Tensor: ...

    def pad(self, grid_cf: torch.Tensor, width: int = 1) -> torch.Tensor: ...

    def slab(self, planes: int) -> Geometry: ...

    def hop_distance(self, cell: int) -> torch.Tensor: ...


@runtime_checkable
class Cell(Protocol):
    """One shared update rule: neighbourhood states ``[B, N, K, C]`` → residual update ``[B, N, C]``.

    The same weights serve every cell, and cell i's output depends only on row i of the
    input (its own neighbourhood, in ``geometry.offsets`` order). See the module docstring for
    how the update is applied.
    """

    channels: int

    def __call__(self, neighbourhood: torch.Tensor) -> torch.Tensor: ...


@runtime_checkable
class LatticeCell(Cell, Protocol):
    """A cell with a faster lattice-wide form: ``grid [B, X, Y, Z, C]`` → update ``[B, X, Y, Z, C]``.

    It must agree with the reference ``forward`` on ``geometry.gather`` (the kit checks it, and
    that the ``nca`` propagator's fast and reference paths agree). Build it from
    :func:`aa_core.plugin.stencil_conv` and :func:`aa_core.plugin.neighbour_kernel`.
    """

    def lattice_forward(self, grid: torch.Tensor, geometry: Geometry) -> torch.Tensor: ...


@runtime_checkable
class MaskedLatticeCell(LatticeCell, Protocol):
    """A lattice cell that can compute its update at chosen cells only.

    ``lattice_forward_at(grid, geometry, where [B, X, Y, Z, 1] bool)`` equals
    ``lattice_forward(grid, geometry)`` where ``where`` holds and is zero elsewhere. The ``nca``
    propagator passes the cells whose update can reach the result (those that fire, near an
    alive cell), so a cell whose cost is per-cell work skips the rest: half the cells at fire
    rate 0.5, and the empty space around a growing pattern.
    """

    def lattice_forward_at(self, grid: torch.Tensor, geometry: Geometry, where: torch.Tensor) -> torch.Tensor: ...


@runtime_checkable
class PostUpdateCell(Cell, Protocol):
    """A cell that post-processes the state after each update (e.g. a clamp to [0, 1])."""

    def post_update(self, grid: torch.Tensor) -> torch.Tensor: ...


@runtime_checkable
class Propagator(Protocol):
    """Moves signal across the lattice: state ``[B, N, C]`` → ``[B, N, C]``."""

    def __call__(self, state: torch.Tensor) -> torch.Tensor: ...


@runtime_checkable
class LocalPropagator(Propagator, Protocol):
    """A propagator with a light cone: after ``steps`` steps a change at one cell reaches only
    cells within ``steps`` hops (``geometry.hop_distance``). Declares ``light_cone = True``."""

    light_cone: bool
    steps: int


@runtime_checkable
class SteppedPropagator(Propagator, Protocol):
    """A propagator a pipeline can run one update at a time, the same rule each time (the core's
    ``nca``): ``step`` on ``[B, N, C]``, ``step_grid`` on ``[B, X, Y, Z, C]``. Pipelines that read or
    touch the lattice between updates (aa-ca-suite's ``ca_classifier``, aa-nca's ``growth``) need it."""

    def step(self, state: torch.Tensor) -> torch.Tensor: ...

    def step_grid(self, grid: torch.Tensor) -> torch.Tensor: ...


@runtime_checkable
class ScheduledPropagator(Propagator, Protocol):
    """A propagator whose updates differ along the roll-out (aa-mamba's ``schedule``: local steps and
    global passes): update ``t`` (0-based) is ``step_at(state, t)`` on ``[B, N, C]`` or
    ``step_grid_at(grid, t)`` on ``[B, X, Y, Z, C]``, repeating after ``period`` updates; ``period``
    calls of ``step_at`` are one call of the propagator (the conformance kit checks it)."""

    period: int

    def step_at(self, state: torch.Tensor, t: int) -> torch.Tensor: ...

    def step_grid_at(self, grid: torch.Tensor, t: int) -> torch.Tensor: ...


@runtime_checkable
class Tokenizer(Protocol):
    """Text → model input: ``list[str]`` → embeddings ``[B, D]`` (float32; D = ``embedding_dim``)."""

    embedding_dim: int

    def encode(self, texts: list[str]) -> torch.Tensor: ...


@runtime_checkable
class SubwordTokenizer(Protocol):
    """Text ↔ token ids: ``encode(texts, max_length=None, bos=False, eos=False)`` → long ``[B, L]``
    right-padded with ``pad_id``; ``decode(ids [B, L])`` → texts (stops at ``eos``, drops special ids).

    ``vocab_size`` is fixed at build; ``fit(texts)`` learns the vocabulary (a no-op for a fixed
    one) and ``fitted`` says whether ``encode`` can run. Save the vocabulary with ``to_extra``.
    """

    vocab_size: int
    pad_id: int
    bos_id: int
    eos_id: int

    @property
    def fitted(self) -> bool: ...

    def fit(self, texts: list[str]) -> Any: ...

    def encode(self, texts: list[str], max_length: int | None = None, bos: bool = False, eos: bool = False) -> torch.Tensor: ...

    def decode(self, ids: torch.Tensor) -> list[str]: ...


@runtime_checkable
class TextEncoder(Protocol):
    """Token ids ``[B, L]`` (long, ``pad_id`` padding ignored) → input-face states ``[B, F, C]``
    (F = ``cells``, C = ``channels``); a text's output does not depend on the other texts' padding."""

    vocab_size: int
    pad_id: int
    cells: int
    channels: int

    def __call__(self, ids: torch.Tensor) -> torch.Tensor: ...


@runtime_checkable
class Adapter(Protocol):
    """Maps a width to another: ``[B, in_dim]`` → ``[B, out_dim]`` (onto or off the lattice faces).

    Built as ``factory(config, ctx, in_dim=..., out_dim=...)``.
    """

    in_dim: int
    out_dim: int

    def __call__(self, x: torch.Tensor) -> torch.Tensor: ...


@runtime_checkable
class Decoder(Protocol):
    """Model output → text: ``fit`` on (texts, their embeddings ``[M, D]``), then ``decode([B, D])``."""

    def fit(self, texts: list[str], embeddings: torch.Tensor) -> Any: ...

    def decode(self, outputs: torch.Tensor) -> list[str]: ...


@runtime_checkable
class RetrievalDecoder(Decoder, Protocol):
    """A decoder that returns stored texts: ``indices([B, D])`` into ``texts`` / ``embeddings [M, D]``."""

    texts: list[str]

    @property
    def embeddings(self) -> torch.Tensor: ...

    def indices(self, outputs: torch.Tensor) -> list[int]: ...


@runtime_checkable
class GenerativeDecoder(Decoder, Protocol):
    """A decoder that writes new text token by token from memory vectors ``[B, M, D_mem]``.

    ``generate(memory, strategy=None, max_new_tokens=None, ...)`` → ids ``[B, T]`` (without ``bos``;
    ``eos`` then ``pad`` after the end); ``loss(memory, targets [B, T])`` → teacher-forcing
    cross-entropy; ``to_texts(ids)`` → the decoded strings.
    """

    def generate(self, memory: torch.Tensor, strategy: str | None = None, max_new_tokens: int | None = None) -> torch.Tensor: ...

    def loss(self, memory: torch.Tensor, targets: torch.Tensor) -> torch.Tensor: ...

    def to_texts(self, ids: torch.Tensor) -> list[str]: ...


@runtime_checkable
class StatefulComponent(Protocol):
    """A component with state outside its parameters (a fitted phrase bank), saved in checkpoints.

    ``to_extra()`` → (JSON-able dict, ``{name: tensor}``); ``load_extra`` restores it in place.
    """

    def to_extra(self) -> tuple[dict[str, Any], dict[str, torch.Tensor]]: ...

    def load_extra(self, extra_json: dict[str, Any], tensors: dict[str, torch.Tensor]) -> Any: ...


@runtime_checkable
class Pipeline(Protocol):
    """Composes the components into a model: a pure module (the task's objective says how a batch
    becomes a loss).

    - ``forward(inputs)`` → predictions (``direct_embedding``: ``[B, D]`` → ``[B, D]``).
    - ``example_batch(size, generator)`` → a valid random batch, at least ``inputs`` and ``targets``
      (first dimension B); the kit runs the pipeline on it and checks that gradients reach it.
    """

    def __call__(self, inputs: torch.Tensor) -> torch.Tensor: ...

    def example_batch(self, size: int, generator: torch.Generator) -> dict[str, torch.Tensor]: ...


@runtime_checkable
class PipelineLoss(Protocol):
    """A pipeline with a loss of its own on ``example_batch`` (``training_loss(batch, settings)`` →
    scalar): the kit trains one step with it instead of a surrogate. Older pipelines were trained
    with it (with ``validation_metrics`` too: :class:`TrainablePipeline`)."""

    def training_loss(self, batch: dict[str, torch.Tensor], settings: Any) -> torch.Tensor: ...


@runtime_checkable
class LatticeParallelPropagator(Propagator, Protocol):
    """A propagator that splits the lattice itself across processes (slabs with halo exchange):
    the trainer then runs every rank on the whole batch instead of sharing it (no DDP)."""

    lattice_parallel: bool


@runtime_checkable
class AuxiliaryLoss(Protocol):
    """A component whose forward pass leaves a loss term to add (e.g. a load-balancing penalty)."""

    def aux_loss(self) -> torch.Tensor: ...


@runtime_checkable
class OwnedDecoder(Decoder, Protocol):
    """A decoder that lives inside the pipeline and is trained with it (not fitted beforehand)."""

    owned: bool


@runtime_checkable
class LatticePipeline(Protocol):
    """A write → propagate → read pipeline, so that its lattice can be pictured step by step (``aa
    inspect``, the demo page): ``initial_state(inputs)`` → the lattice state ``[B, N, C]`` before the
    first step; ``readout(state, inputs)`` → the prediction from the final state; ``input_cells`` are
    the cells written to (the light cone is measured from them)."""

    geometry: Any
    propagator: Any
    channels: int
    input_cells: torch.Tensor

    def initial_state(self, inputs: torch.Tensor) -> torch.Tensor: ...

    def readout(self, state: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor: ...


@runtime_checkable
class GenerativePipeline(Protocol):
    """A pipeline that writes text token by token (aa-text's ``text_to_text``): it trains on token ids
    (``encode_pairs``), validates itself on held-out ids and generates answers from question texts."""

    generative: bool

    def encode_pairs(self, questions: list[str], answers: list[str]) -> tuple[torch.Tensor, torch.Tensor]: ...

    def generate_texts(self, questions: list[str], **kw: Any) -> list[str]: ...

    def validation_metrics(self, inputs: torch.Tensor, targets: torch.Tensor, settings: Any) -> dict[str, float]: ...


@runtime_checkable
class Dataset(Protocol):
    """A task's data, by split and index; the trainer owns the loop (a ``dataset`` component).

    - ``hash``: identifies the data (recorded in checkpoints; a resume refuses another one).
    - ``sizes()`` → ``{"train": n, "validation": n, "test": n}`` (a split may be 0; a sample pool
      reports its pool size as ``train``).
    - ``batch(split, index)`` → a dict whose tensors have first dimension ``len(index)``. Under
      data-parallel training ``index`` is this process's share of the global batch and the dict
      also carries ``global_index`` (the whole global batch) and ``share`` (this process's
      positions in it), for losses that need the whole batch (in-batch negatives).
    """

    hash: str

    def sizes(self) -> dict[str, int]: ...

    def batch(self, split: str, index: torch.Tensor) -> dict[str, Any]: ...


@runtime_checkable
class Objective(Protocol):
    """The maths of a task (Lightning's LightningModule without the model): an ``objective`` component.

    - ``training_loss(model, batch)`` → scalar loss of one training batch (``Dataset.batch`` output).
    - ``validation_metrics(model, data)`` → ``{"val_…": float}`` on ``data``'s validation split;
      ``test_metrics(model, data)`` → ``{"test_…": float}`` on its test split (the core's ``test``
      task reads it once, after selection).
    - ``selection`` = (metric, ``"max"`` | ``"min"``): the round kept unless ``train.select_on`` says
      otherwise; ``metrics``: every validation key ``validation_metrics`` reports (selection and
      ``aa sweep --objective`` are checked against it before anything trains).
    - ``configure_optimizers(model, train, total_steps)`` → (optimizer, scheduler or None); the
      scheduler is stepped once per optimizer step (default: AdamW with ``train.lr`` and
      ``train.weight_decay``, ``train.schedule`` over ``total_steps``).

    Build it as ``factory(config, ctx)``: it reads no data and builds no model. The spec sections it
    reads are declared on its :class:`~aa_core.plugin.Component` (``sections=``), so they are resolved
    (and compared on resume) only when a spec uses it.
    """

    selection: tuple[str, str]
    metrics: tuple[str, ...]

    def training_loss(self, model: torch.nn.Module, batch: dict[str, Any]) -> torch.Tensor: ...

    def validation_metrics(self, model: torch.nn.Module, data: Dataset) -> dict[str, float]: ...

    def test_metrics(self, model: torch.nn.Module, data: Dataset) -> dict[str, float]: ...

    def configure_optimizers(self, model: torch.nn.Module, train: Any, total_steps: int) -> tuple[torch.optim.Optimizer, Any]: ...


@runtime_checkable
class LoggedObjective(Objective, Protocol):
    """An objective with figures worth logging at every training step (``[train] log_every``), e.g.
    the training batch's 1 − IoU before a sample pool writes the batch back: ``step_metrics(model,
    batch)`` → ``{name: float}`` of the batch the step just trained on."""

    def step_metrics(self, model: torch.nn.Module, batch: dict[str, Any]) -> dict[str, float]: ...


@runtime_checkable
class Callback(Protocol):
    """Everything around the training loop (Lightning's Callback): a ``callback`` component, or an
    object passed to :func:`aa_core.run.fit`. Subclass :class:`aa_core.run.Callback` (no-ops) and
    override what you need; ``loop`` is the running :class:`aa_core.run.Loop`.

    - ``on_fit_start(loop)``; ``on_step_end(loop, batch, loss)`` after every optimizer step (the
      batch as the pipeline left it); ``on_round_end(loop, metrics, improved)`` after each
      validation; ``on_interrupt(loop)`` when SIGINT/SIGTERM stops training mid-round (save there);
      ``on_fit_end(loop)`` after a finished fit; ``teardown(loop)`` however it ended.
    - ``should_stop(loop)`` → a reason to end training now (the round in progress is validated
      first), or None.
    - ``state_dict()`` / ``load_state_dict(state)``: JSON-able state saved with every resumable
      checkpoint, so that a resumed run equals an uninterrupted one.
    """

    def on_fit_start(self, loop: Any) -> None: ...

    def on_step_end(self, loop: Any, batch: dict[str, Any], loss: float) -> None: ...

    def on_round_end(self, loop: Any, metrics: dict[str, Any], improved: bool) -> None: ...

    def on_interrupt(self, loop: Any) -> None: ...

    def on_fit_end(self, loop: Any) -> None: ...

    def teardown(self, loop: Any) -> None: ...

    def should_stop(self, loop: Any) -> str | None: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


@runtime_checkable
class ShapedDatasetConfig(Protocol):
    """A dataset config that knows its examples' fixed shapes without reading data (the core's
    ``flat_mlp`` baseline sizes itself from it): ``io_shapes()`` → ``{"inputs": [...], "outputs":
    [...]}``, the shape of one example's ``inputs`` and of the prediction the objective reads."""

    def io_shapes(self) -> dict[str, list[int]]: ...


@runtime_checkable
class CrossCheckedConfig(Protocol):
    """A config (of any component, section or callback) that checks itself against the rest of the spec:
    ``check_with(spec)`` → ``(key path, message)`` pairs, each path a whole spec key (``"geometry.size"``)
    and each message naming the other key it disagrees with, e.g. a dataset whose examples do not fit the
    lattice. ``spec.config(kind)`` is another table's config (or a section's), ``spec.name(kind)`` its
    component's name (None when the spec has none): read configs only, never data, and report only what
    would fail later. It runs in spec validation, once every table is valid on its own, so ``aa check``,
    ``aa run`` and ``aa sweep`` exit 2 on it before anything is built, read or written (its sibling
    ``check()`` sees its own table only)."""

    def check_with(self, spec: Any) -> Iterable[tuple[str, str]]: ...


@runtime_checkable
class ResidentConfig(Protocol):
    """A dataset config whose data keep memory resident beside the model while training (aa-qa's
    teacher): ``resident_bytes()`` is added to the training memory estimate of ``aa check``."""

    def resident_bytes(self) -> int: ...


@runtime_checkable
class TrainablePipeline(Protocol):
    """Deprecated (use an :class:`Objective`): a pipeline that says how a batch becomes a loss and how
    well it does on validation.

    ``validation_metrics`` → any named metrics (``train.select_on`` picks one, with
    ``train.mode = "max" | "min"``); names start with ``val_``.
    """

    def training_loss(self, batch: dict[str, Any], settings: Any) -> torch.Tensor: ...

    def validation_metrics(self, dataset: Dataset, settings: Any) -> dict[str, float]: ...


@runtime_checkable
class TaskObjective(Protocol):
    """Deprecated (use an :class:`Objective`): a dataset that owns the maths for a generic pipeline (the task's loss and validation
    metrics, e.g. Q→A's cosine + in-batch contrastive loss and ranking metrics); the trainer
    prefers it to the pipeline's own ``training_loss`` / ``validation_metrics``."""

    def training_loss(self, model: torch.nn.Module, batch: dict[str, Any]) -> torch.Tensor: ...

    def validation_metrics(self, model: torch.nn.Module) -> dict[str, float]: ...


@runtime_checkable
class FittedDataset(Protocol):
    """A dataset with work to do once the model is built, before training (fit a tokenizer or
    a decoder, embed texts with a teacher); ``ctx`` is the model's BuildContext."""

    def setup(self, model: torch.nn.Module, ctx: Any) -> None: ...


@runtime_checkable
class SampledDataset(Protocol):
    """A dataset that learns from training (a Growing-NCA sample pool): called after every
    optimizer step with the batch the pipeline saw (the pipeline may have added its outputs,
    e.g. ``batch["final_state"]``), to write states back into the pool and damage them.
    Its own state is saved with every checkpoint (``state_tensors`` / ``load_state_tensors``)."""

    def after_step(self, batch: dict[str, Any], model: torch.nn.Module) -> None: ...

    def state_tensors(self) -> dict[str, torch.Tensor]: ...

    def load_state_tensors(self, tensors: dict[str, torch.Tensor]) -> None: ...


@runtime_checkable
class FinalizingDataset(Protocol):
    """A dataset that adds metadata to the final checkpoint (e.g. a calibrated abstention threshold)."""

    def final_metadata(self, model: torch.nn.Module, ctx: Any) -> dict[str, Any]: ...


@runtime_checkable
class DescribedDataset(Protocol):
    """A dataset that says in words what one example and one prediction are (``aa inspect`` prints both
    lines and titles its picture with them; without this it names the example by split and index and
    summarises the output's shape and range).

    - ``describe(index, split)`` → one line for example ``index`` of ``split`` (e.g. ``Q: the question``,
      ``test example 4: class 7``).
    - ``describe_prediction(output)`` → one line for the pipeline's output for one example (first
      dimension 1, as the pipeline returns it), e.g. ``A: the decoded answer`` or ``predicted class 7``.
      It may run on a dataset built from a checkpoint's spec and never set up (``FittedDataset.setup``
      is not called): read fitted parts from the restored components, not from ``setup``.
    """

    def describe(self, index: int, split: str) -> str: ...

    def describe_prediction(self, output: torch.Tensor) -> str: ...


@runtime_checkable
class ServableDataset(Protocol):
    """A dataset that says what one input and one prediction are on the wire, so that ``aa serve`` serves
    its checkpoints without task code (aa-serve's generic handler, ``POST /v1/predict``).

    - ``input_schema()`` → the JSON schema (a dict) of one input: a grid or vector of numbers, a text,
      or ``null`` for a task without input (growth from the seed; an object ``{"steps": n}`` may ask for
      another number of steps). The service checks every input against it (a 422 names the JSON path).
    - ``parse_input(value)`` → one example as the dataset's batches hold it, without the batch dimension:
      the ``inputs`` tensor, or a dict with ``"inputs"`` and what else the pipeline's forward takes as
      keyword arguments (tensors are stacked into the batch, e.g. a mask; other values, e.g. ``steps``,
      are passed as they are: examples that differ in them run in separate passes). A value the schema
      lets through but that cannot be used raises ``ValueError`` (or ``UserError``) naming what is wrong.
    - ``prediction(output, example)`` → what the service answers for one example (JSON-able: a dict of
      numbers, lists, strings, e.g. ``{"class": 7, "probabilities": [...]}`` or a grown grid as nested
      lists): ``output`` is the pipeline's output for it (first dimension 1, as
      :meth:`DescribedDataset.describe_prediction` gets it), ``example`` what ``parse_input`` returned.

    The service runs ``model(inputs, **others)`` on the stacked batch in eval mode, under ``no_grad``. Like
    ``describe_prediction``, these run on a dataset built from a checkpoint's spec and never set up.
    """

    def input_schema(self) -> dict[str, Any]: ...

    def parse_input(self, value: Any) -> Any: ...

    def prediction(self, output: torch.Tensor, example: Any) -> Any: ...


PICTURE_KINDS = ("image", "sequence", "classes", "scores")


@dataclass(frozen=True)
class Picture:
    """One panel of ``aa inspect``'s pictures: what an input, a target or a prediction looks like
    (:class:`PicturedDataset` returns them). ``kind`` says how ``data`` (a tensor, an array or nested
    lists) is drawn:

    - ``"image"``: ``[H, W]`` values in [0, 1], dark on white (1 = black ink); or ``[H, W, 3]`` /
      ``[H, W, 4]`` RGB(A) in [0, 1]. Row 0 is the top.
    - ``"sequence"``: ``[L]`` values, a curve over the positions; ``[L, C]``: one curve per channel.
    - ``"classes"``: integer class ids, one per cell: ``[L]`` a row of coloured cells (1D-ARC),
      ``[H, W]`` a grid (row 0 at the top), ``[X, Y, Z]`` voxels drawn in 3D with the **last axis up**
      (pass a Minecraft structure as ``[x, z, y]``). A negative id is an empty cell (air, a dead cell,
      beyond a row's end): not drawn.
    - ``"scores"``: ``[K]`` one figure per class (probabilities, or a one-hot target), drawn as bars,
      the largest marked.

    ``caption``: one line under the panel (``class 7``, ``predicted 7 (p = 0.93)``). ``names``: the
    classes' names (the legend of ``classes``, the bars' labels of ``scores``; default their ids).
    ``palette``: one colour per class id for ``classes`` (any matplotlib colour, e.g. ``"#0074D9"``;
    default a qualitative map).
    """

    kind: str
    data: Any
    caption: str = ""
    names: tuple[str, ...] = ()
    palette: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in PICTURE_KINDS:
            raise ValueError(f"Picture kind {self.kind!r}: one of {', '.join(PICTURE_KINDS)}")


@runtime_checkable
class PicturedDataset(Protocol):
    """A dataset that shows one example and one prediction as pictures: ``aa inspect`` draws input,
    target and prediction side by side, and the prediction at every step of a lattice roll-out (the
    state over time; voxels for a 3D class grid).

    - ``example_picture(index, split)`` → ``{"input": Picture, "target": Picture}`` of example ``index``
      of ``split`` (``"train"``, ``"validation"``, ``"test"``).
    - ``prediction_picture(output, index, split)`` → the :class:`Picture` of the pipeline's output for
      that example (first dimension 1, as :meth:`DescribedDataset.describe_prediction` gets it),
      best in the target's kind so that the two compare. The example is named so that the prediction
      can be cut to it (a row's length, a digit's alive cells). ``aa inspect`` also calls it on the
      readout of every intermediate state of a roll-out. Like ``describe_prediction``, both run on a
      dataset built from a checkpoint's spec and never set up.
    """

    def example_picture(self, index: int, split: str) -> dict[str, Picture]: ...

    def prediction_picture(self, output: torch.Tensor, index: int, split: str) -> Picture: ...


@runtime_checkable
class DamagedDataset(Protocol):
    """A dataset whose pattern regrows after damage (Growing NCA's regeneration): ``damage(states [B, N,
    C])`` → a copy with part of the pattern destroyed (e.g. the cells of a ball, a disk on a flat
    lattice, zeroed), the same part every call so that pictures repeat. ``aa inspect`` grows the
    example, damages the grown state and steps the pipeline again from it (grow, damage, regrow)."""

    def damage(self, states: torch.Tensor) -> torch.Tensor: ...


PROTOCOLS: dict[str, type] = {
    "geometry": Geometry,
    "cell": Cell,
    "propagator": Propagator,
    "tokenizer": Tokenizer,
    "subword": SubwordTokenizer,
    "encoder": TextEncoder,
    "adapter": Adapter,
    "decoder": Decoder,
    "pipeline": Pipeline,
    "dataset": Dataset,
    "objective": Objective,
    "callback": Callback,
}
