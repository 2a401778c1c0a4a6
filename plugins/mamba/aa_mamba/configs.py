"""Deprecated: moved to :mod:`aa_mamba.config` (removed in 0.3)."""
import warnings; warnings.warn("aa_mamba.configs is deprecated and will be removed in aa-mamba 0.3; import from aa_mamba.config", DeprecationWarning, stacklevel=2)  # noqa: E702
from .config import *  # noqa: E402,F401,F403
