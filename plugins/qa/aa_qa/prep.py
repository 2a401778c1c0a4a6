"""Preparing a Q→A run: the data read and checked once, teacher embeddings (cached, embedded once
and shared across processes), the decoder fitted on training answers only (or, for an embedding →
text decoder, pre-trained on training questions and answers), token ids for text_to_text pipelines,
batch prediction. The bottom of aa_qa's training side: it imports no aa_qa module that trains or evaluates."""
from __future__ import annotations

import time

import torch

from aa_core.plugin import UserError
from aa_core.protocols import Decoder, GenerativeDecoder, OwnedDecoder
from aa_core.run import from_main
from aa_core.run import show_progress as _show_progress

from .data import QAData, answer_key, load_data

Embeddings = dict[str, tuple[torch.Tensor, torch.Tensor]]  # split → (questions [n, D], answers [n, D])


def embed_data(data: QAData, tokenizer, progress: bool = True) -> Embeddings:
    """Teacher embeddings of every question and reference answer (cached), in chunks with progress:
    a bar on a terminal, else a line per chunk once embedding takes more than a few seconds."""
    from tqdm.auto import tqdm

    texts: list[str] = []
    for s in ("train", "validation", "test"):
        texts += [p.question for p in data.split(s)] + [p.answer for p in data.split(s)]
    chunk = 512
    parts: list[torch.Tensor] = []
    t0 = time.perf_counter()
    with tqdm(total=len(texts), desc="teacher embeddings", unit="text", disable=not _show_progress(progress), leave=False) as bar:
        for i in range(0, len(texts), chunk):
            parts.append(tokenizer.encode(texts[i : i + chunk]))
            bar.update(len(parts[-1]))
            done = min(i + chunk, len(texts))
            if progress and bar.disable and time.perf_counter() - t0 > 3 and done < len(texts):
                print(f"teacher embeddings: {done:,}/{len(texts):,} texts ({time.perf_counter() - t0:.0f} s)", flush=True)
    vecs = torch.cat(parts) if parts else tokenizer.encode([])
    out, i = {}, 0
    for s in ("train", "validation", "test"):
        n = len(data.split(s))
        out[s] = (vecs[i : i + n], vecs[i + n : i + 2 * n])
        i += 2 * n
    return out


def from_training(state: dict) -> None:
    """What the core's train task left with the ``qa_pairs`` dataset (data, embeddings, decoder), as the
    Q→A tasks that follow it (evaluate, ask) read them from ``state``."""
    ds = state.get("dataset")
    if ds is not None and hasattr(ds, "embeddings") and hasattr(ds, "data"):
        state.setdefault("data", ds.data)
        if ds.embeddings:
            state.setdefault("embeddings", ds.embeddings)
        if ds.decoder is not None:
            state.setdefault("decoder", ds.decoder)


def load_data_once(spec, state: dict) -> QAData:
    """The spec's data, loaded and validated once per run (kept in ``state``), before anything is embedded."""
    from_training(state)
    if "data" not in state:
        if "data" not in spec.sections:
            raise UserError("this task needs a [data] section (data.path or data.train)")
        check_folds(spec)
        data = state["data"] = load_data(spec.sections["data"])
        if data.duplicates_removed:
            how = ("kept as alternative references" if spec.sections["data"].duplicates == "merge" else
                   'dropped; set data.duplicates = "merge" to keep them as alternative references')
            print(f"data: {data.duplicates_removed} duplicate questions removed, {data.conflicting_duplicates} of them with a "
                  f"different answer ({how})", flush=True)
    return state["data"]


def check_folds(spec) -> None:
    """``data.folds`` (one fold per run) and ``evaluate.folds`` (every fold in one run) together: refused before anything runs."""
    dcfg, ecfg = spec.sections["data"], spec.sections.get("evaluate")
    if dcfg.folds and ecfg is not None and ecfg.folds > 1 and "evaluate" in spec.sections["run"].tasks:
        raise UserError(f"evaluate.folds = {ecfg.folds} with data.folds = {dcfg.folds}: a data fold is one run of a k-fold study, and "
                        "evaluate.folds runs the whole study in one process. Leave out data.folds / data.fold, or set evaluate.folds = 1")


def prepare(spec, state: dict) -> tuple[QAData, Embeddings]:
    """Load the data and its embeddings once per run (kept in ``state``)."""
    load_data_once(spec, state)
    from_training(state)
    if "embeddings" not in state:
        from aa_core.run import BuildContext

        ctx = state.get("ctx") or BuildContext(spec)
        t0 = time.perf_counter()
        state["embeddings"] = from_main(lambda: embed_data(state["data"], ctx.tokenizer, progress=spec.sections["run"].progress))  # embed once, share
        sizes = state["data"].sizes()
        print(f"data: {sizes['train']} train / {sizes['validation']} validation / {sizes['test']} test pairs "
              f"(hash {state['data'].hash[:12]}), embedded in {time.perf_counter() - t0:.1f} s", flush=True)
    return state["data"], state["embeddings"]


@torch.no_grad()
def predict(model: torch.nn.Module, x: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    model.eval()
    if len(x) == 0:
        return x.clone()
    return torch.cat([model(x[i : i + batch_size]) for i in range(0, len(x), batch_size)])


DEFAULT_DECODER = "phrase_bank"


def make_decoder(spec, ctx, data: QAData, emb: Embeddings):
    """The spec's [decoder] (default: phrase_bank), fitted on the training answers only."""
    decoder = ctx.build("decoder", default=DEFAULT_DECODER)
    if getattr(getattr(decoder, "config", None), "phrases", None):
        decoder.fit_from_file(ctx.tokenizer)
    elif isinstance(decoder, OwnedDecoder) and decoder.owned:
        pass  # a decoder inside the pipeline (text_to_text) is trained with it
    elif isinstance(decoder, GenerativeDecoder):  # embedding → text: pre-trained to reconstruct training questions and answers
        if spec.sections["train"].threads:
            torch.set_num_threads(spec.sections["train"].threads)
        decoder.fit(*decoder_fit_data(data, emb))
    elif isinstance(decoder, Decoder):
        decoder.fit([p.answer for p in data.train], emb["train"][1])
    return decoder


def decoder_fit_data(data: QAData, emb: Embeddings) -> tuple[list[str], torch.Tensor]:
    """Training questions and answers (texts, teacher embeddings ``[2n, D]``): what an embedding → text decoder learns from."""
    q, a = emb["train"]
    return [p.question for p in data.train] + [p.answer for p in data.train], torch.cat([q, a])


def prepare_ids(spec, model, data: QAData) -> tuple[tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
    """Fit a text_to_text model's subword tokenizer on training texts (if not fitted) and encode train and validation."""
    tcfg = spec.sections["train"]
    if model.teacher is None and tcfg.select_on != "val_loss":
        raise UserError(f"{spec.source}: a text_to_text model without a [tokenizer] teacher validates on its loss only; "
                        'set train.select_on = "val_loss" or add [tokenizer] name = "teacher"')
    if not model.subword.fitted:
        model.subword.fit([p.question for p in data.train] + [p.answer for p in data.train])
    model.train_answers = sorted({answer_key(p.answer) for p in data.train})
    tr = model.encode_pairs([p.question for p in data.train], [p.answer for p in data.train])
    va = model.encode_pairs([p.question for p in data.validation], [p.answer for p in data.validation])
    return tr, va
