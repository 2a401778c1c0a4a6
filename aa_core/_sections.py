"""Config classes for the spec sections that are not components: data, train, evaluate, run."""
from __future__ import annotations

import attrs

from ._validators import non_negative, one_of, positive


@attrs.define
class DataConfig:
    """Where question→answer pairs come from: one file split by fractions, or separate files."""

    path: str | None = None
    train: str | None = None
    validation: str | None = None
    test: str | None = None
    split: list[float] = attrs.field(factory=lambda: [0.8, 0.1, 0.1])
    seed: int = 0
    limit: int | None = attrs.field(default=None, validator=positive)

    def check(self):
        if self.path is None and self.train is None:
            yield "path", "give either data.path (split by data.split) or data.train (with optional data.validation / data.test)"
        if self.path is not None and self.train is not None:
            yield "train", "give data.path or data.train, not both"
        if len(self.split) != 3 or any(f < 0 for f in self.split) or abs(sum(self.split) - 1.0) > 1e-6:
            yield "split", f"must be three non-negative fractions [train, validation, test] summing to 1, got {self.split}"


@attrs.define
class TrainConfig:
    """Optimisation settings for `aa run` training.

    Loss = cosine_weight · mean(1 − cos) + contrastive_weight · InfoNCE(temperature) whose negatives
    are the other answers of the batch (``negatives = "batch"``) or all training answers (``"all"``).
    The best epoch by ``select_on`` (on validation) is kept; ``patience`` epochs without
    improvement stop training. ``seed`` fixes initialisation and shuffling.
    """

    epochs: int = attrs.field(default=20, validator=positive)
    batch_size: int = attrs.field(default=32, validator=positive)
    lr: float = attrs.field(default=3e-3, validator=positive)
    weight_decay: float = attrs.field(default=0.01, validator=non_negative)
    cosine_weight: float = attrs.field(default=1.0, validator=non_negative)
    contrastive_weight: float = attrs.field(default=0.0, validator=non_negative)
    temperature: float = attrs.field(default=0.05, validator=positive)
    negatives: str = attrs.field(default="batch", validator=one_of(["batch", "all"]))
    patience: int = attrs.field(default=5, validator=positive)
    grad_clip: float = attrs.field(default=1.0, validator=non_negative)
    schedule: str = attrs.field(default="cosine", validator=one_of(["cosine", "constant"]))
    select_on: str = attrs.field(default="val_cosine", validator=one_of(["val_cosine", "val_mrr", "val_recall_at_1", "val_loss"]))
    seed: int = 0
    threads: int | None = attrs.field(default=None, validator=positive)


@attrs.define
class EvaluateConfig:
    """What the held-out report contains."""

    baselines: list[str] = attrs.field(
        factory=lambda: ["random", "mean_answer", "identity", "ridge", "nearest_neighbour", "mlp_same_params"]
    )
    bootstrap: int = attrs.field(default=1000, validator=positive)
    ridge_lambdas: list[float] = attrs.field(factory=lambda: [0.001, 0.01, 0.1, 1.0, 10.0, 100.0])
    split: str = attrs.field(default="test", validator=one_of(["test", "validation"]))
    seed: int = 0
    plot: bool = True

    def check(self):
        known = ("random", "mean_answer", "identity", "ridge", "nearest_neighbour", "mlp_same_params")
        for i, b in enumerate(self.baselines):
            if b not in known:
                from ._convert import did_you_mean

                yield f"baselines[{i}]", f"unknown baseline {b!r}{did_you_mean(b, known)}; known: {', '.join(known)}"


@attrs.define
class RunConfig:
    """What `aa run` does with the assembled model, in order."""

    tasks: list[str] = attrs.field(factory=lambda: ["check"])
    ask: list[str] = attrs.field(factory=list)
    output_dir: str = "runs"
    checkpoint_dir: str = "checkpoints"
    resume: str | None = None
    seed: int = 0
    threads: int | None = attrs.field(default=None, validator=positive)
    progress: bool = True

    def check(self):
        known = ("check", "train", "evaluate", "ask")
        for i, t in enumerate(self.tasks):
            if t not in known:
                from ._convert import did_you_mean

                yield f"tasks[{i}]", f"unknown task {t!r}{did_you_mean(t, known)}; known: {', '.join(known)}"


SECTIONS: dict[str, type] = {
    "data": DataConfig,
    "train": TrainConfig,
    "evaluate": EvaluateConfig,
    "run": RunConfig,
}

