"""Old (0.1) import paths kept working: each warns once and re-exports from the new place."""
from __future__ import annotations

import warnings


def warn_moved(old: str, new: str) -> None:
    warnings.warn(f"{old} is deprecated and will be removed in aa-core 0.3; import from {new} instead",
                  DeprecationWarning, stacklevel=3)
