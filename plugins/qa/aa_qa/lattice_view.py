"""Deprecated path: the lattice pictures moved to :mod:`aa_inspect.lattice_view` (distribution aa-inspect),
which pictures any write → propagate → read pipeline, not only Q→A ones."""
from aa_core._deprecated import warn_moved

warn_moved(__name__, "aa_inspect.lattice_view (distribution aa-inspect)")

from aa_inspect.lattice_view import AXES, MAX_TRACE_BYTES, animation, check_size, hop_from_face, picture, trace  # noqa: E402,F401
