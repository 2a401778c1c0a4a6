"""Config classes of the Q→A application: the ``[data]``, ``[qa_loss]``, ``[evaluate]`` and ``[ask]`` spec
sections, the ``qa_pairs`` dataset, the ``qa`` objective and the ``teacher`` tokenizer (torch-free: the hook
module imports them)."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import attrs

from aa_core.plugin import did_you_mean, finite, non_negative, one_of, path_field, positive

DEFAULT_TEACHER = "all-MiniLM-L6-v2"
TEXT_BASELINES = ("phrase_bank", "nearest_neighbour", "no_lattice", "smollm2")  # generated-text reports (aa_qa.text_baselines)
BASELINES = ("random", "mean_answer", "identity", "identity_offset", "ridge", "nearest_neighbour", "mlp_same_params", "adapters_only")


@attrs.define
class DataConfig:
    """Where question→answer pairs come from: one file split by fractions, or separate files."""

    path: str | None = path_field()  # relative paths: against the spec file's folder (--set: the current folder)
    train: str | None = path_field()
    validation: str | None = path_field()
    test: str | None = path_field()
    split: list[float] = attrs.field(factory=lambda: [0.8, 0.1, 0.1])
    seed: int = 0
    limit: int | None = attrs.field(default=None, validator=positive)
    duplicates: str = attrs.field(default="first", validator=one_of(["first", "merge"]))  # merge: keep every answer as a reference
    # k-fold as ordinary runs (one fold per run, e.g. the trials of `aa sweep --param 'data.fold=0|1|2' --set data.folds=3`):
    # every pair pooled, fold `fold` (default 0) of `folds` held out as the test split, the rest split into train and
    # validation in data.split's ratio; the folds of evaluate.folds = k (aa_qa.data.fold_splits) when data.seed = evaluate.seed
    folds: int | None = None
    fold: int = attrs.field(default=0, validator=non_negative)

    def check(self) -> Iterator[tuple[str, str]]:
        if self.path is None and self.train is None:
            yield "path", "give either data.path (split by data.split) or data.train (with optional data.validation / data.test)"
        if self.path is not None and self.train is not None:
            yield "train", "give data.path or data.train, not both"
        if len(self.split) != 3 or any(f < 0 for f in self.split) or abs(sum(self.split) - 1.0) > 1e-6:
            yield "split", f"must be three non-negative fractions [train, validation, test] summing to 1, got {self.split}"
        if self.folds is not None and not 2 <= self.folds <= 50:
            yield "folds", f"must be 2…50 (the number of folds; leave it out for one split by data.split), got {self.folds}"
        elif self.folds is None and self.fold:
            yield "fold", "data.fold needs data.folds (the number of folds), e.g. --set data.folds=5"
        elif self.folds is not None and self.fold >= self.folds:
            yield "fold", f"must be 0…{self.folds - 1} (data.folds = {self.folds}), got {self.fold}"


@attrs.define
class QALossConfig:
    """The Q→A training objective (``[qa_loss]``): cosine_weight · mean(1 − cos) + contrastive_weight ·
    InfoNCE(temperature) whose negatives are the other answers of the batch (``negatives = "batch"``)
    or all training answers (``"all"``). These keys were ``train.*`` in aa-qa 0.1 (still accepted, with
    a DeprecationWarning; removed in aa-core 0.3)."""

    cosine_weight: float = attrs.field(default=1.0, validator=[non_negative, finite])
    contrastive_weight: float = attrs.field(default=0.0, validator=[non_negative, finite])
    temperature: float = attrs.field(default=0.05, validator=[positive, finite])
    negatives: str = attrs.field(default="batch", validator=one_of(["batch", "all"]))


LOSS_KEYS_MOVED = {f"train.{k}": k for k in ("cosine_weight", "contrastive_weight", "temperature", "negatives")}


@attrs.define
class QAObjectiveConfig:
    """The ``qa`` objective: its weights are the ``[qa_loss]`` section (nothing to set here)."""


@attrs.define
class AskConfig:
    """``[ask]``: the questions the ``ask`` task answers after training (``questions`` was ``run.ask`` in
    aa-qa 0.1: still accepted, with a DeprecationWarning; removed in aa-core 0.3)."""

    questions: list[str] = attrs.field(factory=list)


ASK_KEYS_MOVED = {"run.ask": "questions"}


@attrs.define
class QAPairsConfig:
    """The ``qa_pairs`` dataset: the pairs come from ``[data]`` (nothing to set here)."""

    def resident_bytes(self) -> int:
        """Memory the dataset keeps while training: the teacher model that embeds the texts."""
        return TEACHER_BYTES


TEACHER_BYTES = 140 << 20  # the MiniLM teacher and its tokenizer, resident after embedding the data (measured: 124 MiB)


def __getattr__(name: str):  # the 0.1 name of the training settings, now the core's [train]
    if name == "TrainConfig":
        import warnings

        warnings.warn("aa_qa.config.TrainConfig moved to aa_core.run.TrainConfig (the core owns [train]); the Q→A loss "
                      "weights are aa_qa.config.QALossConfig ([qa_loss]). The old name is removed in aa-qa 0.3",
                      DeprecationWarning, stacklevel=2)
        from aa_core.run import TrainConfig

        return TrainConfig
    raise AttributeError(f"module 'aa_qa.config' has no attribute {name!r}")


@attrs.define
class EvaluateConfig:
    """What the held-out report contains.

    ``folds = k > 1`` pools every pair, holds out each of k folds in turn (the rest split into
    train and validation in the ratio of ``data.split``), retrains the model and the trained
    baselines per fold, and reports the mean and 95 % interval of the paired differences across folds.
    """

    baselines: list[str] = attrs.field(factory=lambda: list(BASELINES))
    bootstrap: int = attrs.field(default=1000, validator=positive)
    ridge_lambdas: list[float] = attrs.field(factory=lambda: [0.001, 0.01, 0.1, 1.0, 10.0, 100.0])
    split: str = attrs.field(default="test", validator=one_of(["test", "validation"]))
    seed: int = 0
    plot: bool = True
    folds: int = attrs.field(default=1, validator=positive)  # k > 1: k-fold over all pairs, the model retrained per fold
    text_baselines: list[str] = attrs.field(factory=lambda: list(TEXT_BASELINES))  # text_to_text models (aa_qa.generative)
    samples: int = attrs.field(default=10, validator=positive)  # generated answers shown beside their references (seeded)
    # mlp_same_params' own training settings (None: the spec's [train] value; mlp_hidden None: the
    # hidden width that matches the model's parameter count), so a sweep can search them like the model's
    mlp_lr: float | None = attrs.field(default=None, validator=[positive, finite])
    mlp_epochs: int | None = attrs.field(default=None, validator=positive)
    mlp_hidden: int | None = attrs.field(default=None, validator=positive)

    def check(self) -> Iterator[tuple[str, str]]:
        if self.folds == 2 or self.folds > 50:
            yield "folds", f"must be 1 (one held-out split) or 3…50 (k-fold cross-validation), got {self.folds}"
        for i, b in enumerate(self.baselines):
            if b not in BASELINES:
                yield f"baselines[{i}]", f"unknown baseline {b!r}{did_you_mean(b, BASELINES)}; known: {', '.join(BASELINES)}"
        for i, b in enumerate(self.text_baselines):
            if b not in TEXT_BASELINES:
                yield f"text_baselines[{i}]", f"unknown baseline {b!r}{did_you_mean(b, TEXT_BASELINES)}; known: {', '.join(TEXT_BASELINES)}"


@attrs.define
class TeacherConfig:
    model: str = DEFAULT_TEACHER
    batch_size: int = attrs.field(default=64, validator=positive)
    max_length: int = attrs.field(default=128, validator=positive)
    cache_dir: str | None = ".aa_cache/teacher"

    def check(self) -> Iterator[tuple[str, str]]:
        if self.model != DEFAULT_TEACHER and not (Path(self.model) / "config.json").is_file():
            yield "model", (
                f"'{self.model}' is neither '{DEFAULT_TEACHER}' nor a local transformers model folder "
                "(no config.json there); models are never downloaded at run time"
            )


