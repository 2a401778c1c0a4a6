"""Configs of the classification / reasoning tasks and their pipelines (torch-free: the hook module imports them)."""
from __future__ import annotations

from collections.abc import Iterator

import attrs

from aa_core.plugin import in_range, non_negative, one_of, path_field, positive


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


@attrs.define
class Arc1DConfig:
    """One 1D-ARC task (``task``, e.g. ``1d_move_1p``) from the dataset folder ``path``.

    Problems are split into ``folds`` folds by a fixed permutation (``split_seed``): fold ``fold``
    is the test split (its problems' test pairs are scored, exact match), ``validation`` problems of
    the rest are the validation split, and every pair (3 train + 1 test) of the remaining problems
    is training data. Running folds 0…folds-1 scores every problem once. ``augment = "colours"``
    permutes the colours 1–9 of a training pair (input and output alike)."""

    path: str | None = path_field(default=None)
    task: str = "1d_move_1p"
    folds: int = attrs.field(default=5, validator=positive)
    fold: int = attrs.field(default=0, validator=non_negative)
    validation: int = attrs.field(default=5, validator=non_negative)
    split_seed: int = 0
    augment: str = attrs.field(default="none", validator=one_of(["none", "colours"]))

    def check(self) -> Iterator[tuple[str, str]]:
        if self.path is None:
            yield "path", "the 1D-ARC dataset folder is required (e.g. ../shared/data/1d-arc/dataset)"
        if self.fold >= self.folds:
            yield "fold", f"must be < folds ({self.folds}), got {self.fold}"


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
