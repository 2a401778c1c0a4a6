"""Assembly: a validated spec → its built components and model; memory estimates."""
from ._context import BuildContext, architecture_spec, build_model, count_architecture_params, count_params, model_kind
from ._memory import (
    ADVICE,
    MEMORY_MARGIN,
    RUNTIME_BYTES,
    activation_bytes,
    available_bytes,
    fits,
    forward_bytes,
    human_bytes,
    training_bytes,
)

__all__ = [
    "ADVICE", "BuildContext", "architecture_spec", "available_bytes", "build_model", "count_architecture_params", "count_params", "forward_bytes",
    "human_bytes", "model_kind", "training_bytes", "MEMORY_MARGIN", "RUNTIME_BYTES", "activation_bytes", "fits",
]
