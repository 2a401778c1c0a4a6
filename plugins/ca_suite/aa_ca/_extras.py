"""Each task's data library is an extra of aa-ca-suite (``pip install 'aa-ca-suite[voxel]'``, ``[all]`` for every
task): a task module whose library is missing refuses to load with a :class:`~aa_core.plugin.UserError` naming
the extra, so ``aa plugins``, the other tasks and aa-nca's growth components keep working without it.

Only the presence is checked here (``importlib.util.find_spec``: nothing is imported); the libraries are
imported where they are used.
"""
from __future__ import annotations

import importlib.util

from aa_core.plugin import UserError

DIST = "aa-ca-suite"
#: extra → (import name, PyPI name): what ``[project.optional-dependencies]`` declares for each task
EXTRAS: dict[str, tuple[str, str]] = {
    "mnist1d": ("mnist1d", "mnist1d"),
    "digits": ("sklearn", "scikit-learn"),
    "voxel": ("nbtlib", "nbtlib"),
    "emoji": ("PIL", "pillow"),
    "report": ("matplotlib", "matplotlib"),
}


def installed(module: str) -> bool:
    """Whether ``module`` can be imported (without importing it)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a parent package missing, or a module set to None in sys.modules
        return False


def require(extra: str, what: str, otherwise: str = "") -> None:
    """Raise a UserError naming ``pip install 'aa-ca-suite[EXTRA]'`` when the extra's library is not installed."""
    module, package = EXTRAS[extra]
    if not installed(module):
        raise UserError(f"{what} needs {package}, which is not installed: pip install '{DIST}[{extra}]' "
                        f"(or '{DIST}[all]' for every task){otherwise}")
