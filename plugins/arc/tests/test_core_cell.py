"""The ARC NCA around a registered cell (`[arc] cell`): the built-in model's rules, any cell, both execution paths."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from aa_arc.batched import per_model_loss
from aa_arc.config import ArcConfig
from aa_arc.core_cell import CellNCA
from aa_arc.data import load_split
from aa_arc.ttt import predict_group

CELLS = [{"name": "mlp", "hidden": 6}, {"name": "growing_nca", "hidden": [8]}, {"name": "gmlp", "hidden": 8}]


def grids(m: int, p: int, h: int, w: int) -> torch.Tensor:
    x = torch.randint(0, 10, (m, p, h, w), generator=torch.Generator().manual_seed(0))
    x[:, :, h - 2:, :] = -1  # outside the grids
    return x


@pytest.mark.parametrize("cell", CELLS, ids=lambda c: c["name"])
def test_cells_update_the_state_inside_the_grids_only(cell):
    nca = CellNCA([1, 2], hidden=3, cell=cell, h=6, w=4)
    x = grids(2, 2, 6, 4)
    logits = nca.forward(x, steps=3)
    assert logits.shape == (2, 2, 10, 6, 4)
    outside = (x < 0).unsqueeze(2).expand_as(logits)
    assert torch.all(logits[outside] == 0)  # cells outside a grid stay zero
    per_model_loss(logits, torch.randint(0, 10, x.shape)).sum().backward()
    assert all(p.grad is not None for p in nca.parameters())


@pytest.mark.parametrize("cell", CELLS, ids=lambda c: c["name"])
def test_models_are_independent_and_seeded_alone(cell):
    pair, alone = CellNCA([9, 2], 3, cell, 5, 5), CellNCA([2], 3, cell, 5, 5)
    for p, q in zip(pair.parameters(), alone.parameters()):
        assert torch.equal(p[1], q[0])  # the same seed gives the same NCA whatever the others in the group
    with torch.no_grad():
        for p in pair.parameters():
            p.add_(0.1 * torch.randn_like(p))  # leave the zero-initialised start: every weight matters
    x = grids(2, 2, 5, 5)
    per_model_loss(pair.forward(x, 3), torch.randint(0, 10, x.shape))[0].backward()
    grads = [p.grad for p in pair.parameters() if p.grad is not None]
    assert grads and all(g[1].abs().sum() == 0 for g in grads) and any(g[0].abs().sum() > 0 for g in grads)


def test_vmap_and_one_by_one_agree():
    nca = CellNCA([3, 4, 5], 2, {"name": "growing_nca", "hidden": [8]}, 5, 6)
    assert nca.vmapped  # growing_nca batches under torch.vmap; mlp's channels-last conv does not
    with torch.no_grad():
        for p in nca.parameters():
            p.add_(0.1 * torch.randn_like(p))
    x = grids(3, 2, 5, 6)
    fast = nca.forward(x, 4)
    nca.vmapped = False
    torch.testing.assert_close(nca.forward(x, 4), fast, atol=1e-5, rtol=1e-5)
    assert not CellNCA([1], 2, {"name": "mlp", "hidden": 4}, 4, 4).vmapped


def test_a_core_cell_learns_a_colour_mapping_task():
    tasks, _ = load_split("arcagi", "training", None, ["0d3d703e"])  # recolour cell by cell
    config = ArcConfig(cell={"name": "growing_nca", "hidden": [32]}, hidden=4, steps=2, train_steps=40, eval_every=5, lr=1e-2)
    record = predict_group(tasks, config)[0]
    assert record["params"] == (3 * 15) * 32 + 32 + 32 * 15 + 15  # 15 channels: 10 colours + 4 hidden + inside
    assert record["demo_loss"][0] < 0.5 and max(record["demo_exact"]) >= 1


def test_aa_run_with_a_cell_and_its_errors(tiny_spec, tmp_path: Path):
    spec = tiny_spec(train_steps=4)
    run = [sys.executable, "-m", "aa_core.cli", "run", str(spec), "--set", "arc.cell={name=\"growing_nca\",hidden=[8]}"]
    done = subprocess.run(run, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    results = json.loads((tmp_path / "runs" / "tiny" / "results.json").read_text())
    assert results["settings"]["cell"] == {"name": "growing_nca", "hidden": [8]}
    assert "cell name=growing_nca, hidden=[8]" in (tmp_path / "runs" / "tiny" / "results.md").read_text()
    for bad, says in [('{name="gnca"}', "unknown cell 'gnca'"), ('{name="mlp",channels=3}', "leave out `channels`"),
                      ('{name="mlp",hiden=3}', "did you mean 'hidden'")]:
        done = subprocess.run(run[:-1] + [f"arc.cell={bad}"], capture_output=True, text=True, timeout=600)
        assert done.returncode == 2 and says in done.stderr and "Traceback" not in done.stderr
