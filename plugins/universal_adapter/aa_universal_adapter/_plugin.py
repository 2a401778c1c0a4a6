"""Hook implementations of this plugin (kept free of torch: factories load lazily)."""
from aa_core.plugin import Component, hookimpl

from .config import STRATEGIES

_DESCRIPTIONS = {
    "learned_linear": "one affine map, any width → any width",
    "hierarchical": "affine+GELU stages through geometrically spaced widths",
    "attention_based": "chunk tokens, self-attention, learned query read-out",
    "autoencoder": "MLP encoder + decoder with a reconstruction loss",
}


@hookimpl
def aa_components():
    return [
        Component("adapter", name, cfg, f"aa_universal_adapter.adapters:build_{name}", _DESCRIPTIONS[name])
        for name, cfg in STRATEGIES.items()
    ]

