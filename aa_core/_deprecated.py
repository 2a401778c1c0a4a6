"""Old (0.1) import paths kept working: each warns and re-exports from the new place.

Every deprecation names the release that removes it (docs/write-a-cell.md, "Versions and the deprecation policy");
tests/test_api_version.py fails once the version in pyproject.toml reaches it while the name is still here.
"""
from __future__ import annotations

import warnings

#: the aa-core release that removes the names deprecated during 0.1 (deprecated in 0.N: removed in 0.N+2 at the earliest)
REMOVE_IN = "0.3"


def warn_moved(old: str, new: str, remove_in: str = REMOVE_IN) -> None:
    warnings.warn(f"{old} is deprecated and will be removed in aa-core {remove_in}; import from {new} instead",
                  DeprecationWarning, stacklevel=3)
