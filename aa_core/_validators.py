"""Deprecated 0.1 path: use :mod:`aa_core.plugin`."""
from ._deprecated import warn_moved

warn_moved(__name__, "aa_core.plugin")

from .validators import *  # noqa: E402,F401,F403
