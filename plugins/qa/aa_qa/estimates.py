"""Peak-memory estimates of the Q→A tasks, for `aa check` and the core's refusal before allocating.

Whole-process peaks, to compare with the peak RSS of the process: the core's figure for the model
(with the interpreter and torch) plus the teacher, which the ``qa_pairs`` dataset keeps resident.
Training itself is the core's ``train`` task, whose estimate adds the ``qa_pairs`` config's
``resident_bytes()`` (the teacher); ``train_bytes`` here gives the same figure.
"""
from __future__ import annotations

from typing import Any

from aa_core.run import RUNTIME_BYTES, forward_bytes, training_bytes

from .config import TEACHER_BYTES


def train_bytes(spec: Any, model: Any, ctx: Any) -> int:
    """Training at ``train.batch_size``: runtime, parameters, optimizer state, checkpoint copies, activations, teacher."""
    return training_bytes(model, ctx, spec.sections["train"].batch_size) + TEACHER_BYTES


def inference_bytes(spec: Any, model: Any, ctx: Any) -> int:
    """One question at a time through the model, plus the runtime and the teacher."""
    return forward_bytes(model, ctx, 1) + RUNTIME_BYTES + TEACHER_BYTES
