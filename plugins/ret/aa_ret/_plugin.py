"""Hook implementations of this plugin (kept free of torch: factories load lazily)."""
from pathlib import Path

from aa_core.plugin import Component, hookimpl

from .config import GenerativeConfig, RETCellConfig


@hookimpl
def aa_components():
    return [
        Component(
            "cell",
            "ret",
            RETCellConfig,
            "aa_ret.cell:build",
            "resource-efficient transformer cell: reduced width/heads, shared layers, SDPA, optional pruning + int8",
        ),
        Component(
            "decoder",
            "generative",
            GenerativeConfig,
            "aa_ret.generative:build",
            "autoregressive text decoder (RET recipe) over face states or an embedding; greedy/beam/nucleus, KV cache",
        ),
    ]


@hookimpl
def aa_architectures():
    return [Path(__file__).parent / "architectures"]
