"""Lattice-parallel propagation equals one process running the whole lattice (within 1e-5).

Real separate processes talk gloo over 127.0.0.1: two ranks (the periodic pair exchanges both
halos with the same peer) and three ranks (a middle rank with two distinct neighbours), on a
7×5×4 lattice split unevenly, both boundaries, 6/18/26 neighbours; forward, input and weight
gradients, the whole-state scatter/gather path, the ``nca_parallel`` component (cell gradients
summed over the ranks), and the chunked no-grad path.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from aa_core import UserError
from aa_core.lattice.parallel import SlabPropagator, partition

sys.path.insert(0, str(Path(__file__).parent))
import lattice_parallel_cases as cases  # noqa: E402

WORKER = Path(cases.__file__)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run_ranks(world: int, tmp_path: Path) -> list[list[dict]]:
    port = _free_port()
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    procs = [subprocess.Popen([sys.executable, str(WORKER), str(r), str(world), str(port), str(tmp_path / f"r{r}.pt")],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for r in range(world)]
    try:
        outs = [p.communicate(timeout=300)[0] for p in procs]
    finally:
        for p in procs:
            p.kill()
    for p, out in zip(procs, outs):
        assert p.returncode == 0, out
    return [torch.load(tmp_path / f"r{r}.pt") for r in range(world)]


def _reference(case: dict) -> dict:
    prop = cases.build(case)
    state, weights = cases.inputs(prop.geometry)
    x = state.clone().requires_grad_(True)
    torch.manual_seed(3)
    out = prop(x)
    (out * weights).sum().backward()
    ref = {"out": out.detach(), "grad_in": x.grad, "grads": {n: q.grad.clone() for n, q in prop.named_parameters()}}
    prop.eval()
    with torch.no_grad():
        ref["eval"] = prop(state)
    return ref


def _close(a: torch.Tensor, b: torch.Tensor) -> None:
    assert a.shape == b.shape
    a, b = a.detach(), b.detach()
    assert float((a - b).abs().max()) <= 1e-5 * max(1.0, float(b.abs().max()))


@pytest.mark.parametrize("world", [2, 3])
def test_slabs_equal_one_process(world, tmp_path):
    ranks = _run_ranks(world, tmp_path)
    for i, case in enumerate(cases.CASES):
        ref = _reference(case)
        parts = [r[i] for r in ranks]
        for key in ("out", "grad_in", "eval", "chunked"):
            _close(torch.cat([p[key] for p in parts], 1), ref["eval" if key == "chunked" else key])
        for p in parts:
            _close(p["joined"], ref["out"])
            _close(p["grad_full"], ref["grad_in"])
            for name, g in ref["grads"].items():
                _close(p["grads"][name], g)
                _close(p["component_grads"][name], g)
        assert float(ref["grad_in"].abs().sum()) > 0  # the comparison is not between zeros


def test_one_rank_without_process_group_is_the_propagator():
    for case in (cases.CASES[3], cases.CASES[6]):  # periodic: the rank is its own neighbour
        prop = cases.build(case)
        state, _ = cases.inputs(prop.geometry)
        torch.manual_seed(3)
        ref = prop(state)
        torch.manual_seed(3)
        _close(SlabPropagator(prop)(state), ref)


def test_partition_and_refusals():
    assert partition(7, 2) == [(0, 4), (4, 7)]
    assert partition(333, 2) == [(0, 167), (167, 333)]
    with pytest.raises(UserError, match="at least one plane"):
        partition(2, 3)
    with pytest.raises(UserError, match="Mamba scan"):
        SlabPropagator(torch.nn.Identity())
