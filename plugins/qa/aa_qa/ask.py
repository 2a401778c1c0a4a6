"""The ``ask`` task: question → teacher embedding → model → phrase-bank answer and its similarity."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from aa_core.plugin import UserError
from aa_core.protocols import RetrievalDecoder


@torch.no_grad()
def answer(model, ctx, decoder, questions: list[str]) -> list[tuple[str, str, float]]:
    """(question, decoded answer, cosine of the predicted embedding to the decoded answer's embedding)."""
    if not questions:
        return []
    model.eval()
    pred = model(ctx.tokenizer.encode(list(questions)))  # [B, D]
    if isinstance(decoder, RetrievalDecoder):
        idx = decoder.indices(pred)
        texts = [decoder.texts[i] for i in idx]
        emb = decoder.embeddings[idx]
    else:
        texts = decoder.decode(pred)
        emb = ctx.tokenizer.encode(texts)
    sims = F.cosine_similarity(pred.float(), emb.float(), dim=-1)
    return [(q, t, float(s)) for q, t, s in zip(questions, texts, sims)]


def restore_for_answers(checkpoint) -> tuple:
    """(model, ctx, decoder) of a checkpoint through the core's one restore path."""
    from aa_core.checkpoint import restore

    r = restore(checkpoint)
    decoder = r.component("decoder")
    if decoder is None:
        raise UserError(f"checkpoint {r.checkpoint.path} holds no fitted decoder (extra.json has no 'decoder'); retrain it with aa-qa")
    return r.model, r.ctx, decoder


def print_answers(results: list[tuple[str, str, float]]) -> None:
    for q, a, s in results:
        print(f"Q: {q}\nA: {a}\n   (similarity {s:.3f})", flush=True)


def run_task(spec, state: dict) -> None:
    questions = spec.sections["run"].ask
    if not questions:
        print("ask: run.ask is empty; nothing to answer", flush=True)
        return
    if "model" not in state:
        from .evaluate import model_from_resume

        model_from_resume(spec, state)
    print_answers(answer(state["model"], state["ctx"], state["decoder"], questions))
