import attrs

from aa_core import Component, hookimpl


@attrs.define
class ResidualTanhConfig:
    channels: int = 8


@hookimpl
def aa_components():
    return [Component("cell", "residual_tanh", ResidualTanhConfig, "aa_example_cell.cell:build", "tanh(W·[centre, mean])")]
