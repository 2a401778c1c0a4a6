"""aa inspect and aa serve's /v1/inspect refuse a trace that would not fit, before running it."""
import pytest

from aa_core.plugin import UserError
from aa_core.run import build_model, validate
from aa_inspect.lattice_view import MAX_TRACE_BYTES, check_size


def _model(size, channels, steps):
    spec = validate({"geometry": {"size": size}, "cell": {"name": "mlp", "channels": channels, "hidden": 8},
                     "propagator": {"steps": steps}, "adapter": {"name": "learned_linear"}, "pipeline": {"residual": True}})
    return build_model(spec)[0]


def test_small_lattice_passes_and_large_one_is_refused_with_the_sizes():
    check_size(_model([8, 8, 4], 8, 4))
    big = _model([64, 64, 64], 16, 16)
    need = 2 * 64**3 * 16 * 17 * 4
    assert need > MAX_TRACE_BYTES
    with pytest.raises(UserError, match=r"too large to picture here \(\d+ MiB"):
        check_size(big)
