"""The generative decoder: KV-cache decoding equals full recomputation, beam 1 equals greedy,
shapes, the length limit, nucleus sampling, parameter count, checkpoint state, int8 + pruning."""
from __future__ import annotations

import pytest
import torch

from aa_cct.config import SubwordConfig
from aa_cct.subword import SubwordTokenizer
from aa_core.conformance import check_protocol
from aa_core.protocols import GenerativeDecoder as GenerativeProtocol
from aa_ret.config import GenerativeConfig
from aa_ret.generative import GenerativeDecoder, param_count
from aa_ret.reduce import reduce_for_inference

TEXTS = ["a neural network learns weights", "overfitting means memorising noise", "dropout zeroes random units",
         "the gradient points uphill", "a lattice of cells exchanges state"]


def make(seed: int = 0, **kw) -> GenerativeDecoder:
    sub = SubwordTokenizer(SubwordConfig(vocab_size=200)).fit(TEXTS * 4)
    torch.manual_seed(seed)
    cfg = GenerativeConfig(dim=32, heads=4, layers=3, prefix_tokens=2, max_positions=40, max_new_tokens=12, dropout=0.0, **kw)
    return GenerativeDecoder(cfg, sub, memory_dim=10, memory_len=3).eval()


def randomise(dec: GenerativeDecoder) -> GenerativeDecoder:
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in dec.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.5)
    return dec


MEM = torch.randn(4, 3, 10, generator=torch.Generator().manual_seed(2))


def test_protocol_and_param_count():
    dec = make()
    check_protocol(dec, GenerativeProtocol, "generative decoder")
    assert sum(p.numel() for p in dec.parameters()) == param_count(dec.config, dec.vocab_size, 10, memory_len=3, prefix=2)
    unshared = make(share_layers=False)
    assert sum(p.numel() for p in unshared.parameters()) == param_count(unshared.config, unshared.vocab_size, 10, memory_len=3, prefix=2)


@pytest.mark.parametrize("strategy", ["greedy", "nucleus"])
def test_kv_cache_equals_full_recomputation(strategy):
    dec = randomise(make())
    dec.eos_id = -1  # never stop early: compare all 12 steps
    a = dec.generate(MEM, strategy=strategy, use_cache=True)
    b = dec.generate(MEM, strategy=strategy, use_cache=False)
    assert a.shape == (4, 12)
    assert torch.equal(a, b)


def test_cached_logits_equal_teacher_forcing_logits():
    dec = randomise(make())
    ids = torch.randint(4, dec.vocab_size, (4, 7), generator=torch.Generator().manual_seed(3))
    full = dec.logits(MEM, ids)
    mem_kv, cache, steps = dec._memory_kv(MEM), None, []
    for t in range(ids.shape[1]):
        out, cache = dec._run(ids[:, t : t + 1], t, mem_kv, cache)
        steps.append(out)
    torch.testing.assert_close(torch.cat(steps, 1), full, atol=1e-5, rtol=1e-5)


def test_beam_width_one_equals_greedy_and_beam_scores_at_least_greedy():
    dec = randomise(make())
    assert torch.equal(dec.generate(MEM, strategy="beam", beam_size=1), dec.generate(MEM, strategy="greedy"))
    beam = dec.generate(MEM, strategy="beam", beam_size=4)
    assert beam.shape[0] == 4 and beam.shape[1] <= 12


def test_length_limit_and_eos_padding():
    dec = randomise(make())
    out = dec.generate(MEM, max_new_tokens=5)
    assert out.shape[1] <= 5
    for row in out.tolist():
        if dec.eos_id in row:
            assert all(t == dec.pad_id for t in row[row.index(dec.eos_id) + 1 :])


def test_nucleus_is_seeded():
    dec = randomise(make())
    a = dec.generate(MEM, strategy="nucleus", top_p=0.9, seed=3)
    assert torch.equal(a, dec.generate(MEM, strategy="nucleus", top_p=0.9, seed=3))
    assert not torch.equal(a, dec.generate(MEM, strategy="nucleus", top_p=1.0, temperature=5.0, seed=4))


def test_fit_lowers_the_loss_and_state_round_trips():
    # (tests/test_conformance.py runs check_decoder on the default config: it memorises six texts exactly)
    from aa_ret.train_text import train_on_pairs

    sub = SubwordTokenizer(SubwordConfig(vocab_size=200))
    torch.manual_seed(0)
    dec = GenerativeDecoder(GenerativeConfig(dim=32, heads=2, prefix_tokens=2, fit_epochs=3, fit_batch_size=8, dropout=0.0), sub, None)
    emb = torch.nn.functional.normalize(torch.randn(5, 16, generator=torch.Generator().manual_seed(4)), dim=-1)
    dec.fit(TEXTS, emb)
    assert dec.cond.in_features == 16
    targets = sub.encode(TEXTS, bos=True, eos=True)
    losses = train_on_pairs(dec, emb, targets, epochs=40, lr=3e-3, batch_size=2)
    assert losses[-1] < 0.6 * losses[0]
    j, t = dec.to_extra()
    fresh = GenerativeDecoder(dec.config, sub, None)
    fresh.load_extra(j, t)
    assert fresh.decode(emb) == dec.decode(emb)


def test_pruned_int8_decoder_runs_and_is_smaller():
    from aa_ret.reduce import compact_state

    dec = randomise(make())
    small = reduce_for_inference(dec, prune_amount=0.5, int8=True)
    out = small.generate(MEM)
    assert out.shape[0] == 4
    dense = sum(v.numel() * v.element_size() for v in compact_state(dec, sparse=False).values() if isinstance(v, torch.Tensor))
    packed = sum(v.numel() * v.element_size() for v in compact_state(small).values() if isinstance(v, torch.Tensor))
    assert packed < 0.6 * dense
