"""The core's own spec sections: ``[run]`` (what ``aa run`` does) and ``[train]`` (how any task trains).
Other sections come from plugins."""
from __future__ import annotations

from collections.abc import Iterator

import attrs

from ..validators import finite, non_negative, one_of, positive


@attrs.define
class RunConfig:
    """What `aa run` does with the assembled model, in order."""

    tasks: list[str] = attrs.field(factory=lambda: ["check"])  # names checked against the installed tasks
    output_dir: str = "runs"
    checkpoint_dir: str = "checkpoints"
    resume: str | None = None  # a run folder (or checkpoint) to continue exactly where it stopped
    allow_change: list[str] = attrs.field(factory=list)  # spec keys a resume may change, e.g. ["train.epochs"]
    force: bool = False  # run even when the memory estimate exceeds the memory available
    seed: int = 0
    threads: int | None = attrs.field(default=None, validator=positive)
    progress: bool = True


@attrs.define
class TrainConfig:
    """Optimisation settings of `aa run` training, for any task.

    ``epochs`` passes over the training split, or (``steps`` set) that many optimizer steps with a
    validation and a checkpoint every ``eval_every`` steps (sample-pool tasks). The round with
    the best ``select_on`` validation metric (default: the objective's ``selection``) is kept,
    compared by ``mode`` (``auto``: the objective's mode for its own metric, else ``min`` for names
    ending in ``loss`` or ``error`` and ``max`` otherwise); ``patience`` rounds without improvement
    stop training. ``shuffle = false`` takes the training examples in their stored order (consecutive
    batches, wrapping around: the MNIST-1D paper's loop). ``budget_s`` ends training at the first
    step after that many seconds of training (the round in progress is validated and the run
    finishes normally); ``log_every`` records every N-th step's loss (and the objective's
    ``step_metrics``) in ``runs/<id>/steps.jsonl``.
    """

    epochs: int = attrs.field(default=20, validator=positive)
    steps: int | None = attrs.field(default=None, validator=positive)  # step-based training instead of epochs
    eval_every: int = attrs.field(default=100, validator=positive)  # steps between validations (with `steps`)
    batch_size: int = attrs.field(default=32, validator=positive)
    lr: float = attrs.field(default=3e-3, validator=[positive, finite])
    weight_decay: float = attrs.field(default=0.01, validator=[non_negative, finite])
    patience: int = attrs.field(default=5, validator=positive)
    grad_clip: float = attrs.field(default=1.0, validator=[non_negative, finite])
    schedule: str = attrs.field(default="cosine", validator=one_of(["cosine", "constant"]))
    select_on: str | None = None  # any validation metric the task reports, e.g. "val_accuracy"
    mode: str = attrs.field(default="auto", validator=one_of(["auto", "max", "min"]))
    seed: int = 0
    threads: int | None = attrs.field(default=None, validator=positive)
    nonfinite: str = attrs.field(default="stop", validator=one_of(["stop", "skip"]))  # NaN/inf loss: stop, or skip + halve lr
    device: str = attrs.field(default="auto", validator=one_of(["auto", "cpu", "cuda"]))  # auto: CUDA when torch sees a GPU
    precision: str = attrs.field(default="fp32", validator=one_of(["fp32", "bf16", "fp16"]))  # autocast; fp16 adds a grad scaler
    compile: bool = False  # torch.compile the training step
    shuffle: bool = True  # false: the stored order, consecutive batches (wrapping around)
    budget_s: float | None = attrs.field(default=None, validator=[positive, finite])  # wall-clock seconds of training
    log_every: int | None = attrs.field(default=None, validator=positive)  # a steps.jsonl line every N steps

    def check(self) -> Iterator[tuple[str, str]]:
        if self.select_on is not None and not self.select_on.startswith("val_"):
            yield "select_on", f"must name a validation metric (val_…), got {self.select_on!r}"

    def direction(self, metric: str, default: tuple[str, str] | None = None) -> float:
        """+1 when a higher ``metric`` is better, −1 when lower is. ``default``: the objective's
        (metric, mode), which ``mode = "auto"`` follows for that metric."""
        mode = self.mode
        if mode == "auto":
            if default is not None and metric == default[0]:
                mode = default[1]
            else:
                mode = "min" if metric.endswith(("loss", "error")) else "max"
        return 1.0 if mode == "max" else -1.0


# Keys a resume may change without --allow-change: where and how fast, not what is computed
# (a longer budget or a denser step log continue the same run).
RUNTIME_KEYS = ("threads", "device", "compile", "budget_s", "log_every")


CORE_SECTIONS: dict[str, type] = {"run": RunConfig, "train": TrainConfig}
