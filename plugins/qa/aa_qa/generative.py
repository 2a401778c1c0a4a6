"""The Q→A evaluation of pipelines and decoders that write new text.

- :func:`roundtrip`: text → teacher embedding → decoder → text on held-out texts (BLEU, chrF,
  exact reconstructions, teacher cosine between a text and its reconstruction).
- :func:`evaluate_generated`: generated answers on the held-out split beside the baselines
  (:mod:`aa_qa.text_baselines`), with BLEU / chrF / ROUGE-L / EM / token F1 against all
  references, teacher cosine to the reference, how many answers are new text, and ten
  answers chosen by a fixed seed; written as ``generated.json`` / ``generated.md``.

Preparing such a run (:func:`prepare_ids`, :func:`decoder_fit_data`) lives in :mod:`aa_qa.prep`,
answering with it (:func:`answer_generated`) in :mod:`aa_qa.answering`, and :func:`answer_key` in
:mod:`aa_qa.data`; they are re-exported here.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from aa_core.plugin import table, write_json, write_text
from aa_core.run import count_params

from . import text_baselines as TB
from .answering import answer_generated
from .data import QAData, answer_key, normalise
from .metrics import summarise, text_metrics
from .prep import decoder_fit_data, prepare_ids
from .report import new_folder
from .stats import paired, resample_indices

__all__ = ["answer_generated", "answer_key", "decoder_fit_data", "evaluate_generated", "markdown", "prepare_ids", "roundtrip",
           "terminal_table"]


def roundtrip(decoder, teacher, texts: list[str], **kw: Any) -> dict[str, Any]:
    """Reconstruct held-out ``texts`` from their own teacher embeddings."""
    e = teacher.encode(texts)
    rec = decoder.decode(e, **kw)
    totals, _ = text_metrics(rec, [[t] for t in texts])
    cos = F.cosine_similarity(teacher.encode(rec), e, dim=-1)
    exact = float(np.mean([normalise(r) == normalise(t) for r, t in zip(rec, texts)])) if texts else float("nan")
    return {"n": len(texts), "bleu": totals["bleu"], "chrf": totals["chrf"], "teacher_cosine": float(cos.mean()),
            "exact": 100.0 * exact, "examples": [[t, r] for t, r in list(zip(texts, rec))[:5]]}


def _score(hyps: list[str], refs: list[list[str]], ref_emb: torch.Tensor, teacher, train_keys: set[str]) -> tuple[dict, dict]:
    totals, items = text_metrics(hyps, refs)
    items["cosine"] = F.cosine_similarity(teacher.encode(hyps).double(), ref_emb.double(), dim=-1).numpy()
    items["new_text"] = np.array([100.0 * (answer_key(h) not in train_keys) for h in hyps])
    totals.pop("bleu_signature", None)
    return {"bleu": totals["bleu"], "chrf": totals["chrf"]}, items


def evaluate_generated(spec, state: dict, data: QAData, emb: dict) -> Path:
    """The held-out report of a text_to_text model: its generated answers and every baseline."""
    ecfg, run = spec.sections["evaluate"], spec.sections["run"]
    model = state["model"]
    teacher = state["ctx"].tokenizer
    split = ecfg.split
    test = data.split(split)
    questions = [p.question for p in test]
    refs = [list(p.answers or (p.answer,)) for p in test]
    ref_emb = emb[split][1]
    train_keys = {answer_key(p.answer) for p in data.train}
    t0 = time.perf_counter()
    hyps = {"lattice": model.generate_texts(questions)}
    timing = {"lattice": (time.perf_counter() - t0) / max(len(questions), 1)}
    notes: dict[str, str] = {}
    for name in ecfg.text_baselines:
        t0 = time.perf_counter()
        if name in TB.SLOW:
            print(f"[evaluate] baseline {name}: {TB.SLOW[name]}", flush=True)
        out = TB.run(name, model, teacher, spec, data, emb, split, hyps["lattice"], progress=run.progress)
        if isinstance(out, str):
            notes[name] = out
            continue
        hyps[name] = out
        timing[name] = (time.perf_counter() - t0) / max(len(questions), 1)
    idx = resample_indices(len(questions), ecfg.bootstrap, ecfg.seed)
    systems, per_item = {}, {}
    for name, h in hyps.items():
        totals, per_item[name] = _score(h, refs, ref_emb, teacher, train_keys)
        systems[name] = {**summarise(per_item[name], idx), **totals, "seconds_per_answer": timing[name]}
    compared = {k: v for k, v in per_item["lattice"].items() if k in PAIRED_KEYS}
    for name in hyps:
        if name != "lattice":  # (lattice − baseline) per question, one resample for both: a test, not two intervals
            systems[name]["paired"] = paired(compared, per_item[name], idx)
    rng = np.random.default_rng(ecfg.seed)
    pick = sorted(rng.choice(len(questions), size=min(ecfg.samples, len(questions)), replace=False).tolist())
    samples = [{"question": questions[i], "reference": refs[i][0], **{n: h[i] for n, h in hyps.items()}} for i in pick]
    meta = {"spec": spec.source, "split": split, "sizes": data.sizes(), "dataset_hash": data.hash, "params": count_params(model),
            "strategy": model.decoder.config.strategy, "max_new_tokens": model.decoder.config.max_new_tokens,
            "unavailable": notes, "sample_seed": ecfg.seed, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    report = {"systems": systems, "samples": samples, "meta": meta,
              "history": state.get("train_result", {}).get("history", state.get("history", []))}
    run_id = state.setdefault("run_id", time.strftime("%Y%m%d-%H%M%S"))
    meta.update(state.get("report_meta", {}))  # aa evaluate --checkpoint: which checkpoint, and whether the data changed
    folder = Path(run.output_dir) / run_id  # a training run's own folder (the trainer's metrics.json is there too)
    if state.get("own_report_folder") or (folder / "generated.json").exists():
        folder = new_folder(Path(run.output_dir), run_id)  # exclusive: never overwrites another evaluation's report
    folder.mkdir(parents=True, exist_ok=True)
    write_json(folder / "generated.json", report)
    write_text(folder / "generated.md", markdown(report))
    print(terminal_table(systems), flush=True)
    for name, why in notes.items():
        print(f"{name}: not run: {why}", flush=True)
    print(f"new text (not a training answer): {systems['lattice']['new_text']:.1f}% of {len(questions)} generated answers", flush=True)
    print(f"report: {folder / 'generated.json'}, {folder / 'generated.md'}", flush=True)
    state["report"], state["report_path"] = report, folder / "generated.json"
    return folder / "generated.json"


PAIRED = [("cosine", "teacher cos"), ("chrf", "chrF (sentence)"), ("rouge_l", "ROUGE-L"), ("token_f1", "F1")]
PAIRED_KEYS = [k for k, _ in PAIRED]
COLUMNS = [("bleu", "BLEU"), ("chrf", "chrF"), ("rouge_l", "ROUGE-L"), ("exact_match", "EM"), ("token_f1", "F1"),
           ("cosine", "teacher cos"), ("new_text", "new text %"), ("seconds_per_answer", "s/answer")]


def _rows(systems: dict[str, dict]) -> tuple[list[str], list[list[str]]]:
    rows = []
    for name, m in systems.items():
        cells = [name]
        for key, _ in COLUMNS:
            v = m.get(key, float("nan"))
            ci = m.get(f"{key}_ci95")
            cells.append(f"{v:.3f}" if key in ("cosine", "seconds_per_answer") else f"{v:.2f}")
            if ci and key == "cosine":
                cells[-1] += f" [{ci[0]:.3f}, {ci[1]:.3f}]"
        rows.append(cells)
    return ["system"] + [lab for _, lab in COLUMNS], rows


def _paired_rows(systems: dict[str, dict]) -> tuple[list[str], list[list[str]]]:
    rows = []
    for name, m in systems.items():
        if "paired" not in m:
            continue
        cells = [f"lattice − {name}"]
        for key, _ in PAIRED:
            d = m["paired"].get(key)
            digits = 3 if key == "cosine" else 2
            cells.append("—" if d is None else
                         f"{d['diff']:+.{digits}f} [{d['ci95'][0]:+.{digits}f}, {d['ci95'][1]:+.{digits}f}] {d['verdict']}")
        rows.append(cells)
    return ["paired difference"] + [lab for _, lab in PAIRED], rows


def terminal_table(systems: dict[str, dict]) -> str:
    paired_header, paired_rows = _paired_rows(systems)
    return table(*_rows(systems)) + ("\n" + table(paired_header, paired_rows) if paired_rows else "")


def markdown(report: dict) -> str:
    header, rows = _rows(report["systems"])
    meta = report["meta"]
    lines = [f"# Generated answers: {meta['spec']} ({meta['split']}, {meta['sizes'][meta['split']]} questions)", "",
             f"{meta['params']:,} parameters; decoding {meta['strategy']}, at most {meta['max_new_tokens']} tokens. "
             "Text metrics against every reference (0–100); teacher cos: cosine of the generated and the reference "
             "answer's teacher embeddings (95% bootstrap interval); new text: answers that are not a training answer.", ""]
    if meta.get("data_changed"):
        lines += [f"**The test split is not the training run's.** {meta['data_changed']}", ""]
    if meta.get("checkpoint"):
        ck = meta["checkpoint"]
        lines += [f"Checkpoint evaluated: run `{ck['run_id']}`, `{ck['name']}`; weights sha256 `{ck['weights_sha256']}`.", ""]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    paired_header, paired_rows = _paired_rows(report["systems"])
    if paired_rows:
        lines += ["", "Paired differences (lattice − baseline, the same questions and the same bootstrap resamples for both; "
                  "95% interval; the verdict follows the interval):", "",
                  "| " + " | ".join(paired_header) + " |", "|" + "---|" * len(paired_header)]
        lines += ["| " + " | ".join(r) + " |" for r in paired_rows]
    for name, why in meta.get("unavailable", {}).items():
        lines += ["", f"- {name}: not run: {why}"]
    lines += ["", f"## Ten answers (chosen with seed {meta['sample_seed']})", ""]
    flat = lambda t: " ".join(str(t).split())  # noqa: E731  # one line per answer in the list
    for s in report["samples"]:
        lines.append(f"- **Q:** {flat(s['question'])}\n  - reference: {flat(s['reference'])}")
        lines += [f"  - {k}: {flat(v)}" for k, v in s.items() if k not in ("question", "reference")]
    return "\n".join(lines) + "\n"
