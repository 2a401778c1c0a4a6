"""The batched NCA: shapes, a fresh NCA keeps its input, models are independent, the demonstration counts."""
from __future__ import annotations

import torch

from aa_arc.batched import IGNORE, BatchedNCA, exact_pairs, per_model_loss, perception_kernel


def grids(m: int, p: int, h: int, w: int) -> torch.Tensor:
    x = torch.randint(0, 10, (m, p, h, w))
    x[:, :, h - 2:, :] = -1  # outside the grids
    return x


def test_shapes_and_fresh_nca_keeps_its_input():
    nca = BatchedNCA([1, 2, 3], hidden=5, width=7)
    x = grids(3, 2, 6, 4)
    logits = nca.forward(x, steps=4)
    assert logits.shape == (3, 2, 10, 6, 4)
    inside = x >= 0
    assert torch.equal(logits.argmax(2)[inside], x[inside])  # zero last layer: the state is unchanged
    assert torch.all(logits[~inside.unsqueeze(2).expand_as(logits)] == 0)  # cells outside stay zero
    assert perception_kernel(3).shape == (12, 1, 3, 3)
    assert nca.n_params() == 4 * 16 * 7 + 7 + 7 * 15


def test_models_are_independent():
    nca = BatchedNCA([1, 2], hidden=3, width=6)
    with torch.no_grad():
        nca.w2.normal_()
    x = grids(2, 2, 5, 5)
    y = torch.randint(0, 10, x.shape)
    per_model_loss(nca.forward(x, 3), y)[0].backward()
    assert nca.w1.grad is not None and nca.w1.grad[0].abs().sum() > 0
    assert nca.w1.grad[1].abs().sum() == 0 and nca.w2.grad is not None and nca.w2.grad[1].abs().sum() == 0
    # the same seed gives the same NCA whatever the others in the batch
    assert torch.equal(BatchedNCA([9, 2], 3, 6).w1[1], BatchedNCA([2], 3, 6).w1[0])


def test_exact_pairs_counts_whole_grids_only():
    targets = torch.tensor([[[[1, 2]], [[3, IGNORE]]]])  # 1 model, 2 pairs of 1×2
    logits = torch.nn.functional.one_hot(torch.tensor([[[[1, 2]], [[3, 7]]]]), 10).permute(0, 1, 4, 2, 3).float()
    real = torch.tensor([[True, True]])
    assert exact_pairs(logits, targets, real).tolist() == [2]  # the ignored cell does not count
    logits[0, 0, :, 0, 1] = 0
    logits[0, 0, 5, 0, 1] = 1
    assert exact_pairs(logits, targets, real).tolist() == [1]
    assert exact_pairs(logits, targets, torch.tensor([[True, False]])).tolist() == [0]
