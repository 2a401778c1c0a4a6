"""Hypothesis strategies shared by the core's and plugins' property tests."""
from __future__ import annotations

from hypothesis import strategies as st

neighbourhoods = st.sampled_from([6, 18, 26])
boundaries = st.sampled_from(["zero", "periodic"])
faces = st.sampled_from(["x0", "x1", "y0", "y1", "z0", "z1"])


def sizes(max_side: int = 6, max_cells: int = 150):
    """Lattice sides [X, Y, Z] with at most ``max_cells`` cells."""
    side = st.integers(1, max_side)
    return st.lists(side, min_size=3, max_size=3).filter(lambda s: s[0] * s[1] * s[2] <= max_cells)


@st.composite
def lattice_configs(draw, max_side: int = 6, max_cells: int = 150):
    """Raw ``[geometry]`` tables for the built-in lattice."""
    return {
        "name": "lattice",
        "size": draw(sizes(max_side, max_cells)),
        "neighbourhood": draw(neighbourhoods),
        "boundary": draw(boundaries),
        "input_face": draw(faces),
        "output_face": draw(faces),
    }


channels = st.integers(1, 8)
batches = st.integers(1, 3)
