"""The phrase_bank decoder: whole-phrase retrieval by cosine, re-ranking, cache, persistence."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from aa_core import UserError
from aa_phrase_bank.bank import PhraseBank, read_phrases
from aa_phrase_bank.config import PhraseBankConfig


def bank(**kw) -> tuple[PhraseBank, torch.Tensor]:
    emb = F.normalize(torch.randn(20, 16, generator=torch.Generator().manual_seed(0)), dim=-1)
    return PhraseBank(PhraseBankConfig(**kw)).fit([f"phrase {i}" for i in range(20)], emb), emb


def test_decodes_own_vectors_and_near_vectors():
    b, emb = bank()
    assert b.decode(emb) == [f"phrase {i}" for i in range(20)]
    noisy = emb * 3 + 0.01 * torch.randn(20, 16, generator=torch.Generator().manual_seed(1))  # scale-free
    assert b.decode(noisy) == [f"phrase {i}" for i in range(20)]
    assert b.decode(torch.zeros(0, 16)) == []


def test_duplicates_kept_once_and_cache_hits():
    emb = F.normalize(torch.randn(3, 4, generator=torch.Generator().manual_seed(2)), dim=-1)
    b = PhraseBank(PhraseBankConfig(cache_size=2)).fit(["a", "b", "a"], torch.cat([emb[:2], emb[:1]]))
    assert len(b) == 2
    b.decode(emb[:2])
    assert len(b._cache) == 2
    b.embeddings = torch.zeros_like(b.embeddings)  # a cache hit must not consult the bank
    assert b.decode(emb[:1]) == ["a"]
    b.decode(emb[2:3])
    assert len(b._cache) == 2  # LRU bound


def test_top_k_centred_rerank_changes_order_only_within_top_k():
    b, emb = bank(top_k=5, rerank="centred")
    idx, scores = b.search(emb[:4])
    assert idx.shape == (4, 5)
    plain, _ = PhraseBank(PhraseBankConfig(top_k=5)).fit(b.texts, emb).search(emb[:4])
    assert all(set(a) == set(p) for a, p in zip(idx.tolist(), plain.tolist()))
    assert idx[:, 0].tolist() == [0, 1, 2, 3]  # own vector still wins after centring


def test_empty_bank_and_wrong_width_are_user_errors():
    with pytest.raises(UserError, match="empty"):
        PhraseBank(PhraseBankConfig()).decode(torch.randn(1, 4))
    b, _ = bank()
    with pytest.raises(UserError, match="16-d"):
        b.decode(torch.randn(1, 8))


def test_round_trip_through_extra():
    b, emb = bank()
    j, t = b.to_extra()
    c = PhraseBank(PhraseBankConfig()).load_extra(j, t)
    assert c.decode(emb) == b.decode(emb) and c.oracle is False


def test_phrase_file_reading(tmp_path):
    p = tmp_path / "phrases.txt"
    p.write_text('plain line\n\n{"question": "q", "answer": ["first", "second"]}\n{"answer": "json text"}\n')
    assert read_phrases(p) == ["plain line", "first", "json text"]
    with pytest.raises(UserError, match="not found"):
        read_phrases(tmp_path / "missing.txt")


def test_conformance():
    from aa_core.conformance import check_decoder

    check_decoder(PhraseBank(PhraseBankConfig()))
