"""Hook implementations of this plugin (kept free of torch: factories load lazily)."""
from aa_core.plugin import Component, hookimpl

from .config import CCTCellConfig


@hookimpl
def aa_components():
    return [
        Component(
            "cell",
            "cct",
            CCTCellConfig,
            "aa_cct.cell:build",
            "CCT cell: conv tokenizer over the neighbourhood, tiny transformer encoder, SeqPool (Hassani et al. 2021)",
        )
    ]

