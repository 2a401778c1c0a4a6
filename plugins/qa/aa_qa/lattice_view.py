"""Deprecated path: the lattice pictures moved to :mod:`aa_inspect.lattice_view` (distribution aa-inspect),
which pictures any write → propagate → read pipeline, not only Q→A ones."""
import warnings

warnings.warn("aa_qa.lattice_view is deprecated and will be removed in aa-core 0.3; import from aa_inspect.lattice_view "
              "(distribution aa-inspect) instead", DeprecationWarning, stacklevel=2)

from aa_inspect.lattice_view import AXES, MAX_TRACE_BYTES, animation, check_size, hop_from_face, picture, trace  # noqa: E402,F401
