"""The core's own components, registered through the same hook as any plugin."""
from __future__ import annotations

from ._component import Component
from ._hookspecs import hookimpl
from ._registry import core_dir
from .configs import DepthwiseCellConfig, DirectEmbeddingConfig, LatticeConfig, LinearAdapterConfig, MLPCellConfig, NCAConfig, TeacherConfig


@hookimpl
def aa_components():
    return [
        Component("geometry", "lattice", LatticeConfig, "aa_core.lattice.geometry:build", "X×Y×Z lattice, 6/18/26 neighbours"),
        Component("cell", "mlp", MLPCellConfig, "aa_core.cells.mlp:build", "two-layer MLP over the neighbourhood"),
        Component("cell", "depthwise", DepthwiseCellConfig, _build_depthwise, "depthwise 3×3×3 perception + MLP (3D NCA)"),
        Component("propagator", "nca", NCAConfig, "aa_core.lattice.nca:build", "T residual local updates (neural CA)"),
        Component("adapter", "linear", LinearAdapterConfig, "aa_core.adapter_linear:build", "one affine map"),
        Component("tokenizer", "teacher", TeacherConfig, "aa_core.teacher:build", "frozen sentence embeddings (MiniLM)"),
        Component("pipeline", "direct_embedding", DirectEmbeddingConfig, "aa_core.pipelines.direct_embedding:build", "embedding → lattice → embedding"),
    ]


def _build_depthwise(config, ctx):
    from .lattice.depthwise import DepthwiseNCACell

    return DepthwiseNCACell(ctx.geometry, config.channels, config.multiplier, config.hidden)


@hookimpl
def aa_architectures():
    return [core_dir()]
