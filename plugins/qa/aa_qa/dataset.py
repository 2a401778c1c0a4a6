"""Question→answer pairs as a dataset of the core trainer (``dataset = "qa_pairs"``, brought by ``[data]``).

The task's side of the Lightning split: the pairs are read and checked when the dataset is built
(before anything is embedded); ``setup`` embeds them with the teacher (once, shared across
processes), fits the decoder on training answers and, for generative pipelines, encodes token ids;
the objective is ``[qa_loss]``'s cosine + InfoNCE (generative pipelines: their own token loss); the
validation metrics are cosine and ranking against the validation answers; the final checkpoint
gets the abstention threshold ``aa ask`` and ``aa serve`` use.
"""
from __future__ import annotations

import math
import time
from typing import Any

import torch
import torch.nn.functional as F

from aa_core.builtins.direct_embedding import aux_losses
from aa_core.protocols import GenerativeDecoder, GenerativePipeline
from aa_core.train import distributed

from . import abstain
from .answering import NONFINITE, decode_scored
from .data import QAData
from .loss import embedding_loss
from .metrics import gold_sets, ranking_metrics, ranks
from .prep import embed_data, load_data_once, make_decoder, predict, prepare_ids


class QAPairs:
    """Embedded question→answer pairs by split; the trainer's TaskObjective for Q→A pipelines."""

    default_selection = "val_cosine"
    settings_sections = ("qa_loss",)  # a resume compares these too

    def __init__(self, data: QAData, spec: Any, tensors: dict[str, tuple[torch.Tensor, torch.Tensor]] | None = None,
                 answers: list[str] | None = None, loss: Any = None, settings: Any = None):
        self.data, self.spec = data, spec
        self.hash = data.hash
        self.loss = loss if loss is not None else spec.sections["qa_loss"]
        self.settings = settings if settings is not None else (spec.sections["train"] if spec is not None else None)
        self.tensors = tensors or {}  # split → (inputs, targets): embeddings, or token ids for generative pipelines
        self.val_answers = answers if answers is not None else [p.answer for p in data.validation]
        self.embeddings: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        self.decoder: Any = None
        self.ctx: Any = None  # the BuildContext it was built in (a restored checkpoint's: its tokenizer and decoder)

    def sizes(self) -> dict[str, int]:
        return self.data.sizes()

    def setup(self, model: torch.nn.Module, ctx: Any) -> None:
        run = self.spec.sections["run"]
        if not self.embeddings:
            t0 = time.perf_counter()
            self.embeddings = distributed.from_main(lambda: embed_data(self.data, ctx.tokenizer, progress=run.progress))  # embed once, share
            sizes = self.data.sizes()
            print(f"data: {sizes['train']} train / {sizes['validation']} validation / {sizes['test']} test pairs "
                  f"(hash {self.hash[:12]}), embedded in {time.perf_counter() - t0:.1f} s", flush=True)
        self.decoder = make_decoder(self.spec, ctx, self.data, self.embeddings)  # fitted on training answers before training
        self.tensors = dict(self.embeddings)
        if isinstance(model, GenerativePipeline):  # text_to_text trains on token ids
            (x, y), (xv, yv) = prepare_ids(self.spec, model, self.data)
            self.tensors.update(train=(x, y), validation=(xv, yv))

    def batch(self, split: str, index: torch.Tensor) -> dict[str, Any]:
        if split not in self.tensors and self.ctx is not None:  # built from a checkpoint and never set up (aa inspect --index)
            pairs = [self.data.split(split)[int(i)] for i in index]  # embed only these pairs with the checkpoint's teacher
            tok = self.ctx.tokenizer
            return {"inputs": tok.encode([p.question for p in pairs]), "targets": tok.encode([p.answer for p in pairs]), "index": index}
        x, y = self.tensors[split]
        return {"inputs": x[index], "targets": y[index], "index": index}

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

    def training_loss(self, model: torch.nn.Module, batch: dict[str, Any]) -> torch.Tensor:
        if isinstance(model, GenerativePipeline):
            return model.training_loss(batch, self.settings)  # type: ignore[operator]  # its own token loss
        y = self.tensors["train"][1]
        candidates = positions = None
        if self.loss.negatives == "all":
            candidates, positions = y.to(batch["targets"].device), batch["index"]
        elif "global_index" in batch:  # in-batch negatives: the whole global batch's answers, as in one process
            candidates, positions = y[batch["global_index"].cpu()].to(batch["targets"].device), batch["share"]
        pred = model(batch["inputs"])
        return embedding_loss(pred, batch["targets"], self.loss, candidates, positions) + aux_losses(model)

    @torch.no_grad()
    def validation_metrics(self, model: torch.nn.Module) -> dict[str, float]:
        xv, yv = self.tensors["validation"]
        device = next((q.device for q in model.parameters()), torch.device("cpu"))
        xv, yv = xv.to(device), yv.to(device)
        if isinstance(model, GenerativePipeline):  # it validates itself (text_to_text: loss + generated answers)
            return model.validation_metrics(xv, yv, self.settings)
        pred = predict(model, xv, getattr(self.settings, "batch_size", 256))
        cos = F.cosine_similarity(pred, yv, dim=-1)
        out = {"val_cosine": float(cos.mean()), "val_loss": float((1 - cos).mean())}
        out.update({f"val_{k}": v for k, v in ranking_metrics(ranks(pred, yv, gold_sets(self.val_answers))).items()})
        return out

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
