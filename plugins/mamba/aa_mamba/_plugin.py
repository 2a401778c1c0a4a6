"""Hook implementations of this plugin (kept free of torch: factories load lazily)."""
from pathlib import Path

from aa_core.plugin import Component, hookimpl

from .config import MambaPropagatorConfig, ScheduleConfig


@hookimpl
def aa_components():
    return [
        Component("propagator", "mamba", MambaPropagatorConfig, "aa_mamba.propagator:build",
                  "global pass: Mamba selective state spaces over lattice scan orders (CPU or CUDA), hierarchical chunks"),
        Component("propagator", "schedule", ScheduleConfig, "aa_mamba.schedule:build",
                  "hybrid schedule of local nca steps and global mamba passes, e.g. nca:4, mamba, nca:4"),
    ]


@hookimpl
def aa_architectures():
    return [Path(__file__).parent / "architectures"]
