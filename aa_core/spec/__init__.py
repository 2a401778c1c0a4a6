"""Specs: TOML → validated, typed configs; ``--set`` overrides; resolved-spec hashing and diffs."""
from .._hashing import content_hash
from ._convert import structure_config, type_name, unstructure
from ._diff import diff_specs, flatten
from ._sections import CORE_SECTIONS, RunConfig, TrainConfig
from ._spec import (
    DEFAULT_NAMES,
    Spec,
    apply_overrides,
    deep_merge,
    load_spec,
    merge_over_architecture,
    parse_override,
    read_toml,
    validate,
)
from ._toml_write import dumps

__all__ = [
    "CORE_SECTIONS", "DEFAULT_NAMES", "RunConfig", "Spec", "TrainConfig", "apply_overrides", "content_hash", "deep_merge", "diff_specs",
    "dumps", "flatten", "load_spec", "merge_over_architecture", "parse_override", "read_toml", "structure_config",
    "type_name", "unstructure", "validate",
]
