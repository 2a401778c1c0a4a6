"""Subword tokenizers (BPE trained on texts, the teacher's WordPiece) and the CCT text encoder."""
from __future__ import annotations

import torch

from aa_cct.config import CCTTextConfig, SubwordConfig, WordPieceConfig
from aa_cct.subword import SubwordTokenizer
from aa_cct.text_encoder import CCTTextEncoder
from aa_core.conformance import check_encoder, check_subword


def test_bpe_tokenizer_conforms_and_saves_its_vocabulary():
    tok = SubwordTokenizer(SubwordConfig(vocab_size=300))
    check_subword(tok)
    j, _ = tok.to_extra()
    again = SubwordTokenizer(SubwordConfig(vocab_size=300)).load_extra(j, {})
    assert again.decode(again.encode(["what is a gradient"])) == ["what is a gradient"]


def test_wordpiece_is_the_teachers_vocabulary():
    tok = SubwordTokenizer(WordPieceConfig())
    check_subword(tok)
    assert tok.vocab_size == 30522
    ids = tok.encode(["Hello world"], bos=True, eos=True)[0].tolist()
    assert ids == [101, 7592, 2088, 102]  # [CLS] hello world [SEP] in bert-base-uncased's vocabulary


def test_cct_text_encoder_shapes_masking_and_params():
    enc = CCTTextEncoder(CCTTextConfig(embed_dim=16, dim=32, layers=1), vocab_size=100, pad_id=0, cells=9, channels=5)
    check_encoder(enc)
    out = enc(torch.tensor([[5, 6, 7, 0, 0], [8, 9, 10, 11, 12]]))
    assert out.shape == (2, 9, 5)
    torch.testing.assert_close(enc(torch.tensor([[5, 6, 7]])), out[:1], atol=1e-5, rtol=1e-5)
