"""Hook implementations of this plugin (kept free of torch: factories load lazily)."""
from pathlib import Path

from aa_core import hookimpl


@hookimpl
def aa_components():
    return []


@hookimpl
def aa_architectures():
    return [Path(__file__).parent / "registry"]
