"""Assembly: a validated spec → its built components and model; memory estimates."""
from ._context import BuildContext, architecture_spec, build_model, count_architecture_params, count_params, model_kind
from ._memory import forward_bytes, human_bytes

__all__ = [
    "BuildContext", "architecture_spec", "build_model", "count_architecture_params", "count_params", "forward_bytes",
    "human_bytes", "model_kind",
]
