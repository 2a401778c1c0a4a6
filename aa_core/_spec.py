"""Deprecated 0.1 path: use :mod:`aa_core.spec`."""
from ._deprecated import warn_moved

warn_moved(__name__, "aa_core.spec")

from .spec._spec import *  # noqa: E402,F401,F403
