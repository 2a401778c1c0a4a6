"""Deprecated 0.1 path: use :mod:`aa_core.spec` (and ``aa_core.plugin.did_you_mean``)."""
from ._deprecated import warn_moved

warn_moved(__name__, "aa_core.spec")

from ._text import did_you_mean  # noqa: E402,F401
from .spec._convert import *  # noqa: E402,F401,F403
