"""Deprecated: the growing_nca cell's C++ perception moved to :mod:`aa_nca.cell_kernel` (distribution aa-nca); this alias is removed in aa-ca-suite 0.3."""
import warnings; warnings.warn("aa_ca.nca_cell_kernel is deprecated and will be removed in aa-ca-suite 0.3; import from aa_nca.cell_kernel (distribution aa-nca)", DeprecationWarning, stacklevel=2)  # noqa: E702
from aa_nca.cell_kernel import *  # noqa: E402,F401,F403
