"""Deprecated 0.1 path: use :mod:`aa_core.architectures`."""
from ._deprecated import warn_moved

warn_moved(__name__, "aa_core.architectures")

from .architectures._registry import *  # noqa: E402,F401,F403
from .assemble._context import architecture_spec, count_architecture_params  # noqa: E402,F401
