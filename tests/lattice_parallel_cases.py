"""Cases for tests/test_lattice_parallel.py, and the rank worker it starts (``python this.py RANK WORLD PORT OUT``).

Every case builds the same small propagator from a seed; a rank runs it lattice-parallel on its
slab (forward + backward, and the chunked no-grad path) and saves its part; the test compares
the joined parts with one process running the whole lattice.
"""
from __future__ import annotations

import sys
from datetime import timedelta

import torch
import torch.distributed as dist

from aa_core.builtins.configs import DepthwiseCellConfig, LatticeConfig, MLPCellConfig, NCAConfig
from aa_core.builtins.mlp import MLPCell
from aa_core.lattice.depthwise import DepthwiseNCACell
from aa_core.lattice.geometry import Lattice
from aa_core.lattice.nca import NCAPropagator

SIZE, B, C, STEPS = (7, 5, 4), 2, 4, 3
CASES = [
    *({"boundary": b, "neighbourhood": k} for b in ("zero", "periodic") for k in (6, 18, 26)),
    {"boundary": "periodic", "neighbourhood": 26, "cell": "depthwise", "fire_rate": 0.6, "alive_threshold": 0.05},
    {"boundary": "zero", "neighbourhood": 18, "gradient_checkpointing": True, "overlap": False},
]


def build(case: dict) -> NCAPropagator:
    torch.manual_seed(1)
    g = Lattice(LatticeConfig(size=list(SIZE), neighbourhood=case["neighbourhood"], boundary=case["boundary"]))
    if case.get("cell") == "depthwise":
        cell: torch.nn.Module = DepthwiseNCACell(g, C, DepthwiseCellConfig().multiplier, 16)
    else:
        cell = MLPCell(MLPCellConfig(channels=C, hidden=16, zero_init=False), g)
    cfg = NCAConfig(steps=STEPS, fire_rate=case.get("fire_rate", 1.0), alive_threshold=case.get("alive_threshold"),
                    gradient_checkpointing=case.get("gradient_checkpointing", False))
    return NCAPropagator(cfg, g, cell).train()


def inputs(g: Lattice) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(2)
    state = torch.rand(B, g.num_cells, C, generator=gen)
    weights = torch.randn(B, g.num_cells, C, generator=gen)  # the loss is Σ weights ⊙ output
    return state, weights


def worker(rank: int, world: int, port: int, out: str) -> None:
    import attrs

    from aa_core.lattice.config import NCAParallelConfig
    from aa_core.lattice.parallel import ParallelNCA, SlabPropagator, allreduce_gradients, gather, scatter

    torch.set_num_threads(1)
    # a rank that fails makes the others fail after the timeout instead of waiting for ever
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world, timeout=timedelta(seconds=90))
    results = []
    for case in CASES:
        prop = build(case)
        slab = SlabPropagator(prop, overlap=case.get("overlap", True))
        state, weights = inputs(prop.geometry)
        Y, Z = prop.geometry.size[1:]
        part = slice(slab.comm.x0 * Y * Z, slab.comm.x1 * Y * Z)
        local = state[:, part].clone().requires_grad_(True)
        torch.manual_seed(3)  # the fire mask's draw
        out_local = slab(local)
        (out_local * weights[:, part]).sum().backward()
        allreduce_gradients(prop)
        grads = {n: q.grad.clone() for n, q in prop.named_parameters()}
        # the whole state in, the whole state out (scatter/gather), gradient w.r.t. the whole state
        prop.zero_grad()
        full = state.clone().requires_grad_(True)
        torch.manual_seed(3)
        joined = gather(slab(scatter(full, slab)), slab)
        (joined * weights).sum().backward()
        # the nca_parallel component (a whole-state propagator whose cell gradients are summed over the ranks)
        comp = ParallelNCA(NCAParallelConfig(**attrs.asdict(prop.config)), prop.geometry, prop.cell).train()
        prop.zero_grad()
        torch.manual_seed(3)
        (comp(state) * weights).sum().backward()
        comp_grads = {n: q.grad.clone() for n, q in prop.named_parameters()}
        prop.eval()
        with torch.no_grad():
            prop.config.chunk_planes = 2
            chunked = slab(state[:, part].clone())
            prop.config.chunk_planes = None
            plain = slab(state[:, part].clone())
        results.append({"x0": slab.comm.x0, "out": out_local.detach(), "grad_in": local.grad, "grads": grads,
                        "joined": joined.detach(), "grad_full": full.grad, "chunked": chunked, "eval": plain,
                        "component_grads": comp_grads})
    torch.save(results, out)
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    worker(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
