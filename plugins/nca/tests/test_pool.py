"""The Growing-NCA sample pool: write-back, reseeding the worst, damage, and its saved state."""
from __future__ import annotations

import torch

from aa_nca.pool import SamplePool, ball_mask


def _pool(damage=2, size=6):
    shape = (6, 6, 1)
    seed = torch.zeros(36, 3)
    seed[21, 1:] = 1.0
    centres = torch.tensor([[3, 3, 0]])
    return SamplePool(seed, size, shape, centres, extent=6.0, damage=damage, radius=(0.3, 0.3), rng_seed=5)


def test_ball_mask_is_a_disk_on_one_plane():
    m = ball_mask((7, 7, 1), torch.tensor([3, 3, 0]), 1.5)
    assert m.sum() == 9 and m[3, 3, 0] and not m[0, 0, 0]


def test_write_back_reseeds_the_worst_and_damages_the_best():
    pool = _pool()
    index = torch.tensor([4, 1, 2])
    grown = torch.ones(3, 36, 3)
    pool.write_back(index, grown, torch.tensor([0.1, 0.9, 0.2]))
    assert torch.equal(pool.states[1], pool.seed)  # worst loss → the seed
    r = 0.3 * 6.0
    hole = ball_mask((6, 6, 1), torch.tensor([3, 3, 0]), r).flatten()
    for i in (4, 2):  # the two best: a ball of zeros, everything else kept
        assert (pool.states[i][hole] == 0).all() and (pool.states[i][~hole] == 1).all()
    assert torch.equal(grown, torch.ones(3, 36, 3))  # the caller's grown states are not reseeded or damaged in place
    assert torch.equal(pool.states[0], pool.seed) and torch.equal(pool.states[3], pool.seed)  # untouched


def test_no_damage_keeps_the_grown_states():
    pool = _pool(damage=0)
    pool.write_back(torch.tensor([0, 1]), torch.ones(2, 36, 3), torch.tensor([0.5, 0.1]))
    assert torch.equal(pool.states[0], pool.seed) and (pool.states[1] == 1).all()


def test_state_tensors_restore_pool_and_random_stream():
    a = _pool()
    a.radius = (0.1, 0.5)
    a.write_back(torch.tensor([0, 1, 2]), torch.rand(3, 36, 3), torch.rand(3))
    saved = a.state_tensors()
    b = _pool()
    b.radius = (0.1, 0.5)
    b.load_state_tensors(saved)
    assert torch.equal(a.states, b.states)
    grown, losses = torch.rand(3, 36, 3), torch.rand(3)
    a.write_back(torch.tensor([3, 4, 5]), grown, losses)
    b.write_back(torch.tensor([3, 4, 5]), grown, losses)
    assert torch.equal(a.states, b.states)  # the same damage after a resume
