"""Peak-memory estimates of the Q→A tasks, for `aa check` and the core's refusal before allocating."""
from __future__ import annotations

from typing import Any

from aa_core.assemble import forward_bytes, training_bytes

TEACHER_BYTES = 400 << 20  # the MiniLM teacher and its tokenizer, loaded once


def train_bytes(spec: Any, model: Any, ctx: Any) -> int:
    """One training step at ``train.batch_size`` (activations of all steps kept for backward), plus the teacher."""
    return training_bytes(model, ctx, spec.sections["train"].batch_size) + TEACHER_BYTES


def inference_bytes(spec: Any, model: Any, ctx: Any) -> int:
    """One question at a time through the model, plus the teacher."""
    return forward_bytes(model, ctx, 1) + TEACHER_BYTES
