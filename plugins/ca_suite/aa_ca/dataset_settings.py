"""The ``[dataset]`` settings an objective reads: the digits' loss and roll-out lengths, the voxel loss.

Those keys have always lived in the dataset's table; an objective factory reads them from the spec
(it reads no data), so the specs keep working unchanged.
"""
from __future__ import annotations

from typing import Any, TypeVar

T = TypeVar("T")


def dataset_settings(ctx: Any, cls: type[T]) -> T:
    """The spec's ``[dataset]`` config when it is a ``cls``, else ``cls()``'s defaults (an objective built
    without that dataset, e.g. by the conformance kit)."""
    spec = getattr(ctx, "spec", None)
    cfg = spec.config("dataset") if spec is not None else None
    return cfg if isinstance(cfg, cls) else cls()
