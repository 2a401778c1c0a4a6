"""Deprecated: the sample pool moved to :mod:`aa_nca.pool` (distribution aa-nca); this alias is removed in aa-ca-suite 0.3."""
import warnings; warnings.warn("aa_ca.pool is deprecated and will be removed in aa-ca-suite 0.3; import from aa_nca.pool (distribution aa-nca)", DeprecationWarning, stacklevel=2)  # noqa: E702
from aa_nca.pool import *  # noqa: E402,F401,F403
