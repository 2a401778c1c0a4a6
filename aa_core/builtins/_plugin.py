"""The core's own components and its ``check`` task, registered through the same hooks as any plugin."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from ..lattice.config import NCAParallelConfig
from ..plugin import Component, Task, hookimpl
from .configs import DepthwiseCellConfig, DirectEmbeddingConfig, FlatMLPConfig, LatticeConfig, LinearAdapterConfig, MLPCellConfig, NCAConfig


@hookimpl
def aa_components() -> list[Component]:
    return [
        Component("geometry", "lattice", LatticeConfig, "aa_core.lattice.geometry:build", "X×Y×Z lattice, 6/18/26 neighbours"),
        Component("cell", "mlp", MLPCellConfig, "aa_core.builtins.mlp:build", "two-layer MLP over the neighbourhood"),
        Component("cell", "depthwise", DepthwiseCellConfig, "aa_core.builtins._plugin:build_depthwise", "depthwise 3×3×3 perception + MLP (3D NCA)"),
        Component("propagator", "nca", NCAConfig, "aa_core.lattice.nca:build", "T residual local updates (neural CA)"),
        Component("propagator", "nca_parallel", NCAParallelConfig, "aa_core.lattice.parallel:build_parallel",
                  "nca split into x-slabs over the processes of a torchrun launch (halo exchange)"),
        Component("adapter", "linear", LinearAdapterConfig, "aa_core.builtins.linear:build", "one affine map"),
        # Its input is a sentence embedding: aa-qa's teacher unless the spec names another tokenizer. The released
        # registry architectures (immutable) rely on this default, so it stays until they have versions naming one.
        Component("pipeline", "direct_embedding", DirectEmbeddingConfig, "aa_core.builtins.direct_embedding:build", "embedding → lattice → embedding",
                  defaults={"tokenizer": "teacher"}),
        Component("pipeline", "flat_mlp", FlatMLPConfig, "aa_core.builtins.flat_mlp:build",
                  "baseline without a lattice: the flattened input → MLP → the prediction's shape"),
    ]


def build_depthwise(config: DepthwiseCellConfig, ctx: Any) -> Any:
    from ..lattice.depthwise import DepthwiseNCACell

    return DepthwiseNCACell(ctx.geometry, config.channels, config.multiplier, config.hidden)


@hookimpl
def aa_tasks() -> list[Task]:
    return [
        Task("check", "aa_core.tasks:describe_task", "build the model and describe every component (reads no data)"),
        Task("train", "aa_core.train.task:run_task", "train the model on the spec's dataset (a checkpoint per epoch, metrics.json)",
             needs=("dataset",), memory="aa_core.train.task:train_bytes"),
        Task("test", "aa_core.train.test_task:run_task", "score the selected checkpoint once on the test split (metrics.json: test)",
             needs=("dataset",)),
    ]


@hookimpl
def aa_architectures() -> list[Path]:
    from ..architectures import core_dir

    return [core_dir()]
