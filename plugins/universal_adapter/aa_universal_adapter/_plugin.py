"""Hook implementations of this plugin (kept free of torch: factories load lazily)."""
from aa_core.plugin import Component, hookimpl

from .config import LIGHT, STRATEGIES

_DESCRIPTIONS = {
    "learned_linear": "one affine map, any width → any width",
    "hierarchical": "affine+GELU stages through geometrically spaced widths",
    "attention_based": "chunk tokens, self-attention, learned query read-out",
    "autoencoder": "MLP encoder + decoder with a reconstruction loss",
    "fixed_projection": "fixed seeded semi-orthogonal projection, no parameters (parameters stay in the lattice)",
    "shared_cell": "fixed projection to a few values per face cell + one small map shared by every cell",
}


@hookimpl
def aa_components():
    return [
        Component("adapter", name, cfg, f"aa_universal_adapter.adapters:build_{name}", _DESCRIPTIONS[name])
        for name, cfg in STRATEGIES.items()
    ] + [Component("adapter", name, cfg, f"aa_universal_adapter.light:build_{name}", _DESCRIPTIONS[name]) for name, cfg in LIGHT.items()]

