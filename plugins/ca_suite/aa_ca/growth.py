"""Deprecated: the growth pipeline and the GrowthDataset base moved to :mod:`aa_nca.growth` (distribution aa-nca); this alias is removed in aa-ca-suite 0.3."""
import warnings; warnings.warn("aa_ca.growth is deprecated and will be removed in aa-ca-suite 0.3; import from aa_nca.growth (distribution aa-nca)", DeprecationWarning, stacklevel=2)  # noqa: E702
from aa_nca.growth import *  # noqa: E402,F401,F403
