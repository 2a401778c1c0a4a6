"""Hook implementations of this plugin (kept free of torch: factories load lazily)."""
from aa_core.plugin import Component, hookimpl

from .config import PhraseBankConfig


@hookimpl
def aa_components():
    return [
        Component("decoder", "phrase_bank", PhraseBankConfig, "aa_phrase_bank.bank:build", "nearest whole phrase by cosine (training answers)"),
    ]

