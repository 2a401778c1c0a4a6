"""The ``ask`` task: question → teacher embedding → model → phrase-bank answer and its similarity."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .._errors import UserError


@torch.no_grad()
def answer(model, ctx, decoder, questions: list[str]) -> list[tuple[str, str, float]]:
    """(question, decoded answer, cosine of the predicted embedding to the decoded answer's embedding)."""
    if not questions:
        return []
    model.eval()
    pred = model(ctx.tokenizer.encode(list(questions)))  # [B, D]
    if hasattr(decoder, "indices"):
        idx = decoder.indices(pred)
        texts = [decoder.texts[i] for i in idx]
        emb = decoder.embeddings[idx]
    else:
        texts = decoder.decode(pred)
        emb = ctx.tokenizer.encode(texts)
    sims = F.cosine_similarity(pred.float(), emb.float(), dim=-1)
    return [(q, t, float(s)) for q, t, s in zip(questions, texts, sims)]


def decoder_from_checkpoint(ckpt, ctx):
    """Rebuild the phrase bank the train task stored beside the weights."""
    info = (ckpt.extra_json or {}).get("decoder")
    if not info:
        raise UserError(f"checkpoint {ckpt.path} holds no phrase bank (extra.json has no 'decoder'); retrain with aa-phrase-bank installed")
    from aa_phrase_bank.bank import PhraseBank
    from aa_phrase_bank.config import PhraseBankConfig

    cfg = ctx.spec.components["decoder"][1] if ctx.has("decoder") else PhraseBankConfig()
    tensors = {k.split(".", 1)[1]: v for k, v in ckpt.extra_tensors.items() if k.startswith("decoder.")}
    return PhraseBank(cfg, None).load_extra(info, tensors)


def print_answers(results: list[tuple[str, str, float]]) -> None:
    for q, a, s in results:
        print(f"Q: {q}\nA: {a}\n   (similarity {s:.3f})", flush=True)


def run_task(spec, state: dict) -> None:
    questions = spec.sections["run"].ask
    if not questions:
        print("ask: run.ask is empty; nothing to answer", flush=True)
        return
    if "model" not in state:
        from .evaluate import _model_from_resume

        _model_from_resume(spec, state)
    print_answers(answer(state["model"], state["ctx"], state["decoder"], questions))
