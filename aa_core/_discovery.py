"""Deprecated 0.1 path: use :mod:`aa_core.host`."""
from ._deprecated import warn_moved

warn_moved(__name__, "aa_core.host")

from .host._discovery import *  # noqa: E402,F401,F403
