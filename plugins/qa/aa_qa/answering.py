"""Answering: predictions decoded into answers with their scores, and a checkpoint's model restored to answer.

The bottom of aa_qa's inference side, shared by ``aa ask``, ``aa inspect``, ``aa serve``, the
abstention calibration and the evaluation; it imports nothing of aa_qa that trains or evaluates.
"""
from __future__ import annotations

import math

import attrs
import torch
import torch.nn.functional as F

from aa_core.plugin import UserError
from aa_core.protocols import RetrievalDecoder
from aa_core.run import restore

from .data import answer_key


@attrs.frozen
class Answer:
    """One answered question: the decoded answer, its confidence (cosine of the predicted embedding to
    the answer's embedding), the next best candidates with their cosines, and whether it falls below
    the checkpoint's abstention threshold (the best guess is still given).

    A prediction that is not finite (NaN/inf) has no answer: ``text`` is empty, ``score`` NaN,
    ``abstained`` True and ``reason`` says why.
    """

    question: str
    text: str
    score: float
    alternatives: list[tuple[str, float]]
    abstained: bool
    novel: bool | None = None  # generated text: True when it is not one of the training answers
    reason: str | None = None  # why there is no answer at all (a non-finite prediction); None otherwise

    @property
    def finite(self) -> bool:
        return math.isfinite(self.score)


NONFINITE = ("the model's prediction is NaN or inf (the checkpoint's weights or this input make it diverge; "
             "retrain it, e.g. with a lower train.lr)")


def decode_scored(pred: torch.Tensor, ctx, decoder) -> tuple[list[str], torch.Tensor]:
    """Decoded texts of predicted embeddings ``[B, D]`` and the cosine of each to its text's embedding."""
    if isinstance(decoder, RetrievalDecoder):
        idx = decoder.indices(pred)
        texts = [decoder.texts[i] for i in idx]
        emb = decoder.embeddings[idx]
    else:
        texts = decoder.decode(pred)
        emb = ctx.tokenizer.encode(texts)
    return texts, F.cosine_similarity(pred.float(), emb.float(), dim=-1)


def _alternatives(pred: torch.Tensor, decoder, chosen: list[str], k: int) -> list[list[tuple[str, float]]]:
    if k <= 0 or not isinstance(decoder, RetrievalDecoder):
        return [[] for _ in range(len(pred))]
    sims = F.normalize(pred.float(), dim=-1) @ F.normalize(decoder.embeddings.float(), dim=-1).T  # [B, M]
    top_s, top_i = sims.topk(min(k + 1, sims.shape[1]), dim=-1)
    out = []
    for row_s, row_i, text in zip(top_s.tolist(), top_i.tolist(), chosen):
        out.append([(decoder.texts[i], float(s)) for s, i in zip(row_s, row_i) if decoder.texts[i] != text][:k])
    return out


def answer_generated(model, ctx, questions: list[str]) -> list[Answer]:
    """``aa ask`` for a text_to_text model: generated answers, each marked new or a reproduced training
    answer; the score is the teacher cosine between the question and its answer."""
    texts = model.generate_texts(list(questions))
    known = set(getattr(model, "train_answers", []) or [])
    if ctx.has("tokenizer"):
        sims = F.cosine_similarity(ctx.tokenizer.encode(list(questions)), ctx.tokenizer.encode(texts), dim=-1).tolist()
    else:
        sims = [float("nan")] * len(texts)
    return [Answer(q, t, float(s), [], False, (answer_key(t) not in known) if known else None) for q, t, s in zip(questions, texts, sims)]


@torch.no_grad()
def answer_details(model, ctx, decoder, questions: list[str], *, top_k: int = 0, threshold: float | None = None) -> list[Answer]:
    """Answer a batch in one forward pass; ``top_k`` alternatives (retrieval decoders), abstention below ``threshold``."""
    if not questions:
        return []
    model.eval()
    if getattr(model, "generative", False):  # text_to_text writes its answers
        return [a if a.finite else attrs.evolve(a, text="", score=math.nan, alternatives=[], abstained=True, reason=NONFINITE)
                for a in answer_generated(model, ctx, questions)]
    pred = model(ctx.tokenizer.encode(list(questions)))  # [B, D]
    texts, sims = decode_scored(pred, ctx, decoder)
    alts = _alternatives(pred, decoder, texts, top_k)
    finite = torch.isfinite(pred).all(-1).tolist()
    out = []
    for q, t, s, a, ok in zip(questions, texts, sims.tolist(), alts, finite):
        if ok and math.isfinite(s):
            out.append(Answer(q, t, s, a, threshold is not None and s < threshold))
        else:  # NaN would compare False with the threshold and pass as an answer: abstain and say why
            out.append(Answer(q, "", math.nan, [], True, reason=NONFINITE))
    return out


def answer(model, ctx, decoder, questions: list[str]) -> list[tuple[str, str, float]]:
    """(question, decoded answer, cosine of the predicted embedding to the decoded answer's embedding)."""
    return [(a.question, a.text, a.score) for a in answer_details(model, ctx, decoder, questions)]


def restore_for_answers(checkpoint) -> tuple:
    """(model, ctx, decoder) of a checkpoint through the core's one restore path."""
    r = restore(checkpoint)
    decoder = r.component("decoder")
    if decoder is None:
        raise UserError(f"checkpoint {r.checkpoint.path} holds no fitted decoder (extra.json has no 'decoder'); retrain it with aa-qa")
    return r.model, r.ctx, decoder
