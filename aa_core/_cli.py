"""Deprecated 0.1 path: use :mod:`aa_core.cli`."""
from ._deprecated import warn_moved

warn_moved(__name__, "aa_core.cli")

from .cli._main import *  # noqa: E402,F401,F403
