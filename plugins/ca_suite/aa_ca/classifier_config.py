"""Configs of the classification / reasoning tasks and their pipelines (torch-free: the hook module imports them)."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import attrs

from aa_core.plugin import in_range, non_negative, one_of, path_field, positive

MNIST1D_LENGTH = 40  # positions of an MNIST-1D sequence (make_dataset(get_dataset_args()))
DIGITS_PIXELS = 64  # scikit-learn's digits: 8×8 images, one pixel per cell
ARC_COLOURS = 10  # a 1D-ARC cell's colour, one-hot


def lattice_cells(spec: Any) -> tuple[int, int, str] | None:
    """The cells the spec's ``ca_classifier`` writes its inputs onto and reads its logits from, counted from the
    configs alone (the datasets' cross-component checks, ``check_with``), and the keys that decide them:
    (written, read, description); None for another pipeline or a geometry other than the core's lattice."""
    from aa_core.plugin import LatticeConfig

    geometry, pipeline = spec.config("geometry"), spec.config("pipeline")
    if spec.name("pipeline") != "ca_classifier" or not isinstance(geometry, LatticeConfig):
        return None
    size = geometry.lattice_size()
    shown = f"{list(geometry.size)}" + ("" if geometry.scale_factor == 1.0 else f" × scale_factor {geometry.scale_factor} = {list(size)}")
    face = geometry.face_shape(geometry.input_face)
    if pipeline.place == "input_face":
        written = face[0] * face[1]
        where = f"{shown}, whose input face {geometry.input_face} has {face[0]}×{face[1]} = {written} cells (pipeline.place = \"input_face\"),"
    else:
        written = size[0] * size[1] * size[2]
        where = f"{shown} ({written} cells, pipeline.place = \"{pipeline.place}\")"
    out = geometry.face_shape(geometry.output_face)
    return written, written if pipeline.read == "input" else out[0] * out[1], where


def _in_features(spec: Any, features: int, dataset: str) -> Iterator[tuple[str, str]]:
    """A ``write = "linear"`` classifier maps exactly the dataset's features per input onto a cell."""
    pipeline = spec.config("pipeline")
    if spec.name("pipeline") == "ca_classifier" and pipeline.write == "linear" and pipeline.in_features != features:
        yield "pipeline.in_features", (f"is {pipeline.in_features}, but each input of the {dataset} dataset ([dataset] name = "
                                       f"\"{dataset}\") has {features} feature{'s' if features > 1 else ''} (write = \"linear\" maps "
                                       f"exactly those onto a cell): set pipeline.in_features = {features}")


@attrs.define
class CAClassifierConfig:
    """A lattice classifier: input ``[B, N_in, F]`` written onto cells, T cell updates, class logits per cell.

    ``place``: ``all`` (inputs onto every cell in raster order, right-padded with zero cells), ``snake``
    (every cell in boustrophedon order, so consecutive inputs stay neighbours on a folded 3D shape) or
    ``input_face`` (the geometry's input face). ``read``: the cells whose logits are returned (``input``:
    the written cells in input order; ``output_face``). ``write``: ``copy`` (features into the first F
    channels) or ``linear`` (a learned F → C map). ``readout``: ``linear`` (C → classes per cell) or
    ``channels`` (the last ``classes`` channels are the logits, as in self-classifying MNIST).
    ``clamp_input`` rewrites the input channels after every step (an immutable pixel); ``noise`` adds
    N(0, noise²) to the state after every training step; ``steps`` overrides the propagator's T.
    """

    classes: int = attrs.field(default=10, validator=positive)
    in_features: int = attrs.field(default=1, validator=positive)
    place: str = attrs.field(default="all", validator=one_of(["all", "snake", "input_face"]))
    read: str = attrs.field(default="input", validator=one_of(["input", "output_face"]))
    write: str = attrs.field(default="copy", validator=one_of(["copy", "linear"]))
    readout: str = attrs.field(default="linear", validator=one_of(["linear", "channels"]))
    clamp_input: bool = False
    noise: float = attrs.field(default=0.0, validator=non_negative)
    steps: int | None = attrs.field(default=None, validator=positive)

    def check(self) -> Iterator[tuple[str, str]]:
        if self.clamp_input and self.write != "copy":
            yield "clamp_input", "needs write = \"copy\" (only copied input channels can be held fixed)"


@attrs.define
class MLPClassifierConfig:
    """The MNIST-1D paper's MLP baseline: flattened input → hidden layers (ReLU) → classes.

    ``residual``: hidden layers after the first add their input (``h = h + relu(W h)``), as the
    paper's ``MLPBase`` does; needs equal hidden widths.
    """

    classes: int = attrs.field(default=10, validator=positive)
    inputs: int = attrs.field(default=40, validator=positive)  # N_in · F
    hidden: list[int] = attrs.field(factory=lambda: [100, 100])
    residual: bool = True

    def check(self) -> Iterator[tuple[str, str]]:
        if not self.hidden or any(h <= 0 for h in self.hidden):
            yield "hidden", "needs one or more positive widths, e.g. [100, 100]"
        elif self.residual and len(set(self.hidden)) > 1:
            yield "residual", "needs equal hidden widths (each later layer adds its input); set residual = false"


@attrs.define
class CNNClassifierConfig:
    """The MNIST-1D paper's CNN baseline: strided 1D convolutions (ReLU) → linear → classes."""

    classes: int = attrs.field(default=10, validator=positive)
    length: int = attrs.field(default=40, validator=positive)
    in_features: int = attrs.field(default=1, validator=positive)
    channels: int = attrs.field(default=25, validator=positive)
    kernels: list[int] = attrs.field(factory=lambda: [5, 3, 3])
    stride: int = attrs.field(default=2, validator=positive)
    padding: int = attrs.field(default=1, validator=non_negative)


@attrs.define
class Mnist1DConfig:
    """MNIST-1D from PyPI ``mnist1d``: ``make_dataset(get_dataset_args())`` (5,000 samples, seed 42:
    4,000 train / 1,000 test, length 40), never downloaded. The last ``validation`` training
    samples are the validation split. ``shuffle``: the paper's spatially shuffled variant (one fixed
    permutation of the 40 positions, drawn by ``make_dataset`` with ``shuffle_seq``)."""

    validation: int = attrs.field(default=500, validator=positive)
    shuffle: bool = False
    seed: int = 42

    def check_with(self, spec: Any) -> Iterator[tuple[str, str]]:
        """The 40 positions fit the classifier's cells (CrossCheckedConfig: before any data is generated)."""
        cells = lattice_cells(spec)
        if cells is not None and cells[0] < MNIST1D_LENGTH:
            yield "geometry.size", (f"{cells[2]} holds fewer cells than the {MNIST1D_LENGTH} positions of an MNIST-1D sequence "
                                    f"([dataset] name = \"mnist1d\"), written one per cell: give the lattice at least "
                                    f"{MNIST1D_LENGTH} cells, e.g. geometry.size = [{MNIST1D_LENGTH}, 1, 1]")
        yield from _in_features(spec, 1, "mnist1d")
        pipeline = spec.config("pipeline")
        if spec.name("pipeline") == "mlp_classifier" and pipeline.inputs != MNIST1D_LENGTH:
            yield "pipeline.inputs", (f"is {pipeline.inputs}, but an MNIST-1D sequence ([dataset] name = \"mnist1d\") has "
                                      f"{MNIST1D_LENGTH} values: set pipeline.inputs = {MNIST1D_LENGTH}")


@attrs.define
class DigitsConfig:
    """Self-classifying digits on scikit-learn's 8×8 digits (1,797 images, offline).

    Split by a fixed permutation (``split_seed``): ``test`` and ``validation`` fractions, the rest
    train. Every alive cell (pixel > 0) classifies its digit. ``loss``: ``l2`` (class channels to
    the one-hot target) or ``ce``; applied at every step of a rollout of ``steps_min``…``steps_max``
    steps. With ``pool_size`` > 0, rollouts continue from a sample pool (``replace`` entries per
    step restart from a fresh digit). Metrics after ``eval_steps`` steps (Randazzo et al.: 200). The
    ``digits_self_classify`` objective reads ``loss``, ``steps_min``, ``steps_max`` and ``eval_steps``.
    """

    loss: str = attrs.field(default="l2", validator=one_of(["l2", "ce"]))
    test: float = attrs.field(default=0.2, validator=in_range(0.0, 0.5))
    validation: float = attrs.field(default=0.1, validator=in_range(0.0, 0.5))
    split_seed: int = 0
    pool_size: int = attrs.field(default=512, validator=non_negative)
    replace: int = attrs.field(default=8, validator=non_negative)
    steps_min: int = attrs.field(default=10, validator=positive)
    steps_max: int = attrs.field(default=30, validator=positive)
    eval_steps: int = attrs.field(default=200, validator=positive)

    def check(self) -> Iterator[tuple[str, str]]:
        if self.steps_min > self.steps_max:
            yield "steps_min", f"must be ≤ steps_max ({self.steps_max}), got {self.steps_min}"

    def check_with(self, spec: Any) -> Iterator[tuple[str, str]]:
        """One cell per pixel, each classifying (CrossCheckedConfig: before the images are read)."""
        cells = lattice_cells(spec)
        if cells is None:
            return
        written, read, where = cells
        if written != DIGITS_PIXELS:
            yield "geometry.size", (f"{where} must hold exactly {DIGITS_PIXELS} cells: the self-classifying digits ([dataset] "
                                    "name = \"digits\") write one pixel of the 8×8 image onto each cell, and each cell names "
                                    "the digit; use geometry.size = [8, 8, 1]")
        elif read != DIGITS_PIXELS:
            yield "pipeline.read", (f"reads the {read} cells of the output face {spec.config('geometry').output_face} "
                                    f"(geometry.output_face), but each of the "
                                    f"{DIGITS_PIXELS} pixels of a digit ([dataset] name = \"digits\") is classified by its own "
                                    "cell: use pipeline.read = \"input\"")
        yield from _in_features(spec, 1, "digits")


@attrs.define
class Arc1DConfig:
    """One 1D-ARC task (``task``, e.g. ``1d_move_1p``) from the dataset folder ``path``.

    Problems are split into ``folds`` folds by a fixed permutation (``split_seed``): fold ``fold``
    is the test split (its problems' test pairs are scored, exact match), ``validation`` problems of
    the rest are the validation split, and every pair (3 train + 1 test) of the remaining problems
    is training data. Running folds 0…folds-1 scores every problem once (``protocol = "unseen"``: the
    rule applied to problems the model never saw).

    ``protocol = "demonstrations"`` is CAX's data protocol (its Table 2): the model trains on the three
    demonstration pairs of every problem and is scored on every problem's test pair (folds are not
    used; the demonstration pairs of ``validation`` problems are held out as the validation split, so
    those problems' test pairs are the only ones whose problem the model has not trained on). CAX trained
    one model over all tasks with the task as an input; here it is one model per task.
    ``augment = "colours"`` permutes the colours 1–9 of a training pair (input and output alike)."""

    path: str | None = path_field(default=None)
    task: str = "1d_move_1p"
    folds: int = attrs.field(default=5, validator=positive)
    fold: int = attrs.field(default=0, validator=non_negative)
    validation: int = attrs.field(default=5, validator=non_negative)
    split_seed: int = 0
    augment: str = attrs.field(default="none", validator=one_of(["none", "colours"]))
    protocol: str = attrs.field(default="unseen", validator=one_of(["unseen", "demonstrations"]))

    def check(self) -> Iterator[tuple[str, str]]:
        if self.path is None:
            yield "path", "the 1D-ARC dataset folder is required (e.g. ../shared/data/1d-arc/dataset)"
        if self.protocol == "demonstrations" and self.fold != 0:
            yield "fold", ('protocol = "demonstrations" scores every problem\'s test pair in one run and uses no folds; '
                           "leave fold at 0")
        if self.fold >= self.folds:
            yield "fold", f"must be < folds ({self.folds}), got {self.fold}"

    def check_with(self, spec: Any) -> Iterator[tuple[str, str]]:
        """The one-hot colours' width (CrossCheckedConfig). The row length is the task's data: the dataset checks
        it against the lattice when it is built, before training (``aa_ca.arc1d_task.build``)."""
        yield from _in_features(spec, ARC_COLOURS, "arc1d")


@attrs.define
class ClassifyObjectiveConfig:
    """The classification objectives (``mnist1d_consensus``, ``digits_self_classify``, ``arc1d_rows``)
    have no settings of their own: ``digits_self_classify`` reads its loss and roll-out lengths from
    ``[dataset]`` (``loss``, ``steps_min``, ``steps_max``, ``eval_steps``), where specs have always set them."""


@attrs.define
class ReportConfig:
    """The ``ca_report`` task: which pictures to draw."""

    pictures: bool = True
    examples: int = attrs.field(default=6, validator=positive)
