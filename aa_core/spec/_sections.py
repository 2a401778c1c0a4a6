"""The core's own spec sections: ``[run]`` (what ``aa run`` does) and ``[train]`` (how any task trains).
Other sections come from plugins."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import attrs

from ..validators import finite, non_negative, one_of, positive


def _doc(text: str, default: Any = attrs.NOTHING, **kw: Any) -> Any:
    """A config field with its meaning (the spec reference prints it)."""
    return attrs.field(default=default, metadata={"doc": text}, **kw)


@attrs.define
class RunConfig:
    """What `aa run` does with the assembled model, in order."""

    tasks: list[str] = _doc("the tasks to run, in order (core: check, train, test; plugins add theirs)", factory=lambda: ["check"])
    output_dir: str = _doc("where runs/<run-id>/ (metrics.json, reports) is written", "runs")
    checkpoint_dir: str = _doc("where checkpoints/<run-id>/ is written", "checkpoints")
    resume: str | None = _doc("a run folder (or checkpoint) to continue exactly where it stopped (--resume)", None)
    allow_change: list[str] = _doc('spec keys a resume may change, e.g. ["train.epochs"] (--allow-change)', factory=list)
    force: bool = _doc("run even when the memory estimate exceeds the memory available (--force)", False)
    seed: int = _doc("the seed of Python's, NumPy's and torch's generators before the first task", 0)
    threads: int | None = _doc("torch threads for every task (default: torch's)", None, validator=positive)
    progress: bool = _doc("progress bars on a terminal, a line per round elsewhere", True)


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
    ``step_metrics``) in ``runs/<id>/steps.jsonl``. ``ties = "last"`` keeps the last of rounds with an
    equal ``select_on`` instead of the first: where validation saturates early (a few examples, all right)
    the first saturated round is not the best model.
    """

    epochs: int = _doc("passes over the training split", 20, validator=positive)
    steps: int | None = _doc("optimizer steps instead of epochs (sample-pool tasks)", None, validator=positive)
    eval_every: int = _doc("steps between validations and checkpoints (with steps)", 100, validator=positive)
    batch_size: int = _doc("examples per optimizer step (the global batch under --nproc)", 32, validator=positive)
    lr: float = _doc("learning rate of the objective's optimizer (default AdamW)", 3e-3, validator=[positive, finite])
    weight_decay: float = _doc("AdamW's decoupled weight decay", 0.01, validator=[non_negative, finite])
    patience: int = _doc("rounds without improvement of select_on that stop training", 5, validator=positive)
    grad_clip: float = _doc("the gradient norm is clipped to this (0: no clipping)", 1.0, validator=[non_negative, finite])
    schedule: str = _doc("learning-rate schedule per step: cosine to 0, or constant", "cosine", validator=one_of(["cosine", "constant"]))
    select_on: str | None = _doc("the validation metric that picks the kept round (default: the objective's)", None)
    mode: str = _doc("max or min for select_on (auto: the objective's, else min for …loss/…error)", "auto",
                     validator=one_of(["auto", "max", "min"]))
    seed: int = _doc("the seed of the model's initialisation, the batch order and the random draws", 0)
    threads: int | None = _doc("torch threads while training (a resume may change it)", None, validator=positive)
    nonfinite: str = _doc("a NaN/inf loss or gradient stops the run, or skips the batch and halves the learning rate", "stop",
                          validator=one_of(["stop", "skip"]))
    device: str = _doc("auto: CUDA when torch sees a GPU, else the CPU", "auto", validator=one_of(["auto", "cpu", "cuda"]))
    precision: str = _doc("autocast precision of the forward pass (fp16 adds a gradient scaler)", "fp32",
                          validator=one_of(["fp32", "bf16", "fp16"]))
    compile: bool = _doc("torch.compile the training step", False)
    shuffle: bool = _doc("false: the stored order, consecutive batches (wrapping around)", True)
    budget_s: float | None = _doc("wall-clock seconds of training; the run ends at the first step after them", None,
                                  validator=[positive, finite])
    log_every: int | None = _doc("a runs/<run-id>/steps.jsonl line every N optimizer steps", None, validator=positive)
    ties: str = _doc("of rounds with an equal select_on, keep the first, or the last (a tie then counts as an improvement)",
                     "first", validator=one_of(["first", "last"]))

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
