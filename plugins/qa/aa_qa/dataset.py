"""Question→answer pairs as a dataset of the core trainer (``dataset = "qa_pairs"``, brought by ``[data]``).

The data side of the Lightning split: the pairs are read and checked when the dataset is built
(before anything is embedded); ``setup`` embeds them with the teacher (once, shared across
processes), fits the decoder on training answers and, for generative pipelines, encodes token ids;
the final checkpoint gets the abstention threshold ``aa ask`` and ``aa serve`` use. The maths
(``[qa_loss]``'s cosine + InfoNCE, the validation and test metrics) is the ``qa`` objective's
(:mod:`aa_qa.objective`), which the component names as its default.
"""
from __future__ import annotations

import math
import time
from typing import Any

import torch

from aa_core.protocols import GenerativeDecoder, GenerativePipeline
from aa_core.run import from_main

from . import abstain
from .answering import NONFINITE, decode_scored
from .data import QAData
from .loss import TrainTargets
from .prep import embed_data, load_data_once, make_decoder, prepare_ids


class QAPairs:
    """Embedded question→answer pairs by split (embeddings, or token ids for generative pipelines).

    ``tensors[split]`` = (inputs, targets); ``reference_answers(split)`` the reference answer texts (the
    objective's ranking gold sets). A training batch also carries ``train_targets``
    (:class:`~aa_qa.loss.TrainTargets`): every training answer, for InfoNCE negatives beyond the batch.
    """

    def __init__(self, data: QAData, spec: Any, tensors: dict[str, tuple[torch.Tensor, torch.Tensor]] | None = None,
                 answers: list[str] | None = None):
        self.data, self.spec = data, spec
        self.hash = data.hash
        self.tensors = tensors or {}  # split → (inputs, targets): embeddings, or token ids for generative pipelines
        self.val_answers = answers if answers is not None else [p.answer for p in data.validation]
        self.embeddings: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        self.decoder: Any = None
        self.ctx: Any = None  # the BuildContext it was built in (a restored checkpoint's: its tokenizer and decoder)
        self._train_targets: TrainTargets | None = None

    def sizes(self) -> dict[str, int]:
        return self.data.sizes()

    def reference_answers(self, split: str) -> list[str]:
        """The reference answer of each pair of ``split``, in order."""
        return self.val_answers if split == "validation" else [p.answer for p in self.data.split(split)]

    def setup(self, model: torch.nn.Module, ctx: Any) -> None:
        run = self.spec.sections["run"]
        if not self.embeddings:
            t0 = time.perf_counter()
            self.embeddings = from_main(lambda: embed_data(self.data, ctx.tokenizer, progress=run.progress))  # embed once, share
            sizes = self.data.sizes()
            print(f"data: {sizes['train']} train / {sizes['validation']} validation / {sizes['test']} test pairs "
                  f"(hash {self.hash[:12]}), embedded in {time.perf_counter() - t0:.1f} s", flush=True)
        self.decoder = make_decoder(self.spec, ctx, self.data, self.embeddings)  # fitted on training answers before training
        self.tensors = dict(self.embeddings)
        if isinstance(model, GenerativePipeline):  # text_to_text trains on token ids
            (x, y), (xv, yv) = prepare_ids(self.spec, model, self.data)
            test = self.data.test
            self.tensors.update(train=(x, y), validation=(xv, yv),
                                test=model.encode_pairs([p.question for p in test], [p.answer for p in test]))

    def batch(self, split: str, index: torch.Tensor) -> dict[str, Any]:
        if split not in self.tensors and self.ctx is not None:  # built from a checkpoint and never set up (aa inspect --index)
            pairs = [self.data.split(split)[int(i)] for i in index]  # embed only these pairs with the checkpoint's teacher
            tok = self.ctx.tokenizer
            return {"inputs": tok.encode([p.question for p in pairs]), "targets": tok.encode([p.answer for p in pairs]), "index": index}
        x, y = self.tensors[split]
        out: dict[str, Any] = {"inputs": x[index], "targets": y[index], "index": index}
        if split == "train":
            if self._train_targets is None or self._train_targets.targets is not y:
                self._train_targets = TrainTargets(y)
            out["train_targets"] = self._train_targets
        return out

    def describe(self, index: int, split: str) -> str:
        """``Q: the question`` of pair ``index`` of ``split`` (aa inspect's input line)."""
        return f"Q: {self.data.split(split)[index].question}"

    def describe_prediction(self, output: torch.Tensor) -> str:
        """``A: the decoded answer  (similarity s)`` of a predicted embedding ``[1, D]``, decoded by the fitted
        decoder (set up here, or restored from the checkpoint)."""
        decoder = self.decoder if self.decoder is not None else (self.ctx.built.get("decoder") if self.ctx is not None else None)
        if decoder is None:
            return "A: (no fitted decoder: the checkpoint holds none, so the prediction cannot be decoded)"
        texts, score = decode_scored(output, self.ctx, decoder)
        s = float(score[0])
        return f"A: {texts[0]}  (similarity {s:.3f})" if math.isfinite(s) else f"A: (no answer: {NONFINITE})"

    def final_metadata(self, model: torch.nn.Module, ctx: Any) -> dict[str, Any]:
        """The abstention threshold ``aa ask`` / ``aa serve`` use (none for generated text: no bank answer to abstain from)."""
        generated = isinstance(model, GenerativePipeline) or isinstance(self.decoder, GenerativeDecoder)
        xv, yv = self.embeddings["validation"]
        return {abstain.KEY: None if generated else abstain.calibrate_model(model, ctx, self.decoder, xv, yv)}


def build(config: Any, ctx: Any) -> QAPairs:
    """The spec's ``[data]`` pairs, read and checked now (nothing embedded yet)."""
    pairs = QAPairs(load_data_once(ctx.spec, {}), ctx.spec)
    pairs.ctx = ctx
    return pairs
