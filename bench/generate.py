"""Benchmark of text generation: the text_to_text model and the embedding → text decoder.

- ``params``: parameters of the full text_to_text model (encoder, lattice, decoder).
- ``latency_ms_b1``: median wall time to answer one question at batch 1 (tokenise, encode,
  lattice, decode exactly ``--tokens`` new tokens with the KV cache: ``eos`` is disabled so every
  answer has the worst-case length), ``answers_per_s_b32``: the same at batch 32.
- The reduced decoder (50 % magnitude pruning of every Linear + dynamic int8), measured in the
  same run, interleaved with its fp32 reference: ``int8_bytes_ratio`` (compact storage with
  pruning masks, ``aa_ret.reduce.compact_state``, vs 4 bytes per fp32 decoder parameter; the
  int8 output projection no longer shares the fp32 token embedding, so both are counted) and
  ``int8_latency_ratio`` (batch-1 latency, reduced / fp32); with a trained checkpoint also the
  quality change on held-out questions (teacher cosine and chrF of the generated answers).
- ``roundtrip_teacher_cosine``: with an embedding → text checkpoint (``--roundtrip``), held-out
  texts rebuilt from their own teacher embeddings, cosine between text and reconstruction.

Run: python bench/generate.py [--checkpoint RUN_DIR] [--roundtrip RUN_DIR] [--threads N] [--quick].
Without ``--checkpoint`` the weights are random (speed and size only). The last line is one JSON object.
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import time
from pathlib import Path

# Idle OpenMP threads sleep instead of spinning: on a shared machine, spinning threads of a
# 2-thread run fight any other process for the cores and make it many times slower than 1 thread.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402  # after the OpenMP setting, which is read when torch loads

REPO = Path(__file__).resolve().parents[1]


def load(checkpoint: str | None):
    if checkpoint:
        from aa_core.checkpoint import restore

        r = restore(checkpoint)
        return r.model, r.ctx, r.checkpoint.spec
    from aa_core.assemble import build_model
    from aa_core.spec import load_spec

    spec = load_spec(REPO / "examples" / "text_to_text.toml")
    model, ctx = build_model(spec)
    data = qa_pairs(spec)
    model.subword.fit([p.question for p in data.train] + [p.answer for p in data.train])
    return model.eval(), ctx, spec


def qa_pairs(spec):
    """The spec's question→answer pairs, read through its dataset component (aa-qa's qa_pairs, via the plugin host)."""
    from aa_core.assemble import BuildContext
    from aa_core.train.task import build_dataset

    return build_dataset(spec, BuildContext(spec)).data


def timed(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def decoder_bytes(decoder, sparse: bool) -> int:
    """Bytes of :func:`aa_ret.reduce.compact_state` (pruning masks as bits, int8 values, other tensors fp32)."""
    from aa_ret.reduce import compact_state

    return sum(v.numel() * v.element_size() for v in compact_state(decoder, sparse=sparse).values() if isinstance(v, torch.Tensor))


def quality(model, teacher, questions: list[str], refs: list[str]) -> dict[str, float]:
    from sacrebleu.metrics import CHRF

    hyps = model.generate_texts(questions)
    cos = torch.nn.functional.cosine_similarity(teacher.encode(hyps), teacher.encode(refs), dim=-1)
    return {"teacher_cosine": float(cos.mean()), "chrf": float(CHRF().corpus_score(hyps, [refs]).score)}


def roundtrip(decoder, teacher, texts: list[str]) -> dict[str, float]:
    """Held-out texts rebuilt from their own teacher embeddings: teacher cosine, BLEU, chrF, exact %."""
    import re
    import unicodedata

    from sacrebleu.metrics import BLEU, CHRF

    def normalise(text: str) -> str:  # exact match up to case, accents and punctuation (as the Q→A reports count it)
        text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii").lower()
        return " ".join(re.sub(r"[^a-z0-9]+", " ", text).split())

    e = teacher.encode(texts)
    rec = decoder.decode(e)
    cos = torch.nn.functional.cosine_similarity(teacher.encode(rec), e, dim=-1)
    exact = sum(normalise(r) == normalise(t) for r, t in zip(rec, texts)) / max(len(texts), 1)
    return {"n": len(texts), "teacher_cosine": float(cos.mean()), "bleu": float(BLEU().corpus_score(rec, [texts]).score),
            "chrf": float(CHRF().corpus_score(rec, [texts]).score), "exact": 100.0 * exact}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--checkpoint", help="a text_to_text run folder or checkpoint (default: random weights)")
    ap.add_argument("--roundtrip", help="a run folder whose [decoder] is an embedding → text generative decoder")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--tokens", type=int, default=32)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    repeats = 3 if args.quick else 11
    model, ctx, spec = load(args.checkpoint)
    data = qa_pairs(spec)
    questions = [p.question for p in data.test] * 32
    fp32 = model
    reduced = copy.copy(model)  # shares encoder and lattice; only the decoder is reduced
    from aa_ret.reduce import reduce_for_inference

    reduced_decoder = reduce_for_inference(model.decoder, prune_amount=0.5, int8=True)
    for m in (model.decoder, reduced_decoder):
        m.eos_id = -1  # every answer runs the full --tokens steps
    reduced._modules = dict(model._modules, decoder=reduced_decoder)
    params = sum(p.numel() for p in model.parameters())
    kw = {"max_new_tokens": args.tokens, "strategy": "greedy"}
    lat: dict[str, list[float]] = {"fp32": [], "int8": []}
    for _ in range(2 if args.quick else 3):  # interleaved rounds
        for name, m in (("fp32", fp32), ("int8", reduced)):
            lat[name].append(timed(lambda m=m: m.generate_texts(questions[:1], **kw), repeats))
    lat_b1 = {k: statistics.median(v) for k, v in lat.items()}
    t32 = timed(lambda: fp32.generate_texts(questions[:32], batch_size=32, **kw), max(1, repeats // 3))
    generated = fp32.decoder.generate(fp32(fp32.subword.encode(questions[:1])), **kw)
    model.decoder.eos_id = reduced_decoder.eos_id = model.subword.eos_id
    dense = 4 * sum(p.numel() for p in model.decoder.parameters())  # fp32, the tied embedding stored once
    packed = decoder_bytes(reduced_decoder, sparse=True)  # int8 Linears (output projection included) + masks + fp32 rest
    out = {
        "params": params, "decoder_params": sum(p.numel() for p in model.decoder.parameters()), "threads": args.threads,
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"), "loadavg_1m": os.getloadavg()[0],
        "tokens": int(generated.shape[1]), "latency_ms_b1": 1000 * lat_b1["fp32"], "answers_per_s_b32": 32 / t32,
        "int8_latency_ms_b1": 1000 * lat_b1["int8"], "int8_bytes_ratio": packed / dense,
        "int8_latency_ratio": lat_b1["int8"] / lat_b1["fp32"], "decoder_bytes_fp32": dense, "decoder_bytes_int8_pruned": packed,
        "trained": bool(args.checkpoint),
    }
    print(f"{params:,} parameters; batch 1: {out['latency_ms_b1']:.1f} ms per answer of {args.tokens} tokens "
          f"({args.threads} threads); batch 32: {out['answers_per_s_b32']:.1f} answers/s")
    print(f"pruned 50 % + int8 decoder: bytes ×{out['int8_bytes_ratio']:.3f}, batch-1 latency ×{out['int8_latency_ratio']:.3f}")
    if args.checkpoint and ctx.has("tokenizer"):
        test = data.test[: 16 if args.quick else len(data.test)]
        qs, refs = [p.question for p in test], [p.answer for p in test]
        out["quality_fp32"] = quality(fp32, ctx.tokenizer, qs, refs)
        out["quality_int8"] = quality(reduced, ctx.tokenizer, qs, refs)
        print(f"held-out teacher cosine fp32 {out['quality_fp32']['teacher_cosine']:.4f} → int8+pruned {out['quality_int8']['teacher_cosine']:.4f}; "
              f"chrF {out['quality_fp32']['chrf']:.2f} → {out['quality_int8']['chrf']:.2f}")
    out["roundtrip_teacher_cosine"] = None
    if args.roundtrip:
        from aa_core.checkpoint import restore

        r = restore(args.roundtrip)
        rdata = qa_pairs(r.checkpoint.spec)
        texts = [p.question for p in rdata.test] + [p.answer for p in rdata.test]
        rt = roundtrip(r.component("decoder"), r.ctx.tokenizer, texts[: 16 if args.quick else len(texts)])
        out.update(roundtrip_teacher_cosine=rt["teacher_cosine"], roundtrip_bleu=rt["bleu"], roundtrip_chrf=rt["chrf"],
                   roundtrip_exact=rt["exact"], roundtrip_n=rt["n"])
        print(f"round trip on {rt['n']} held-out texts: teacher cosine {rt['teacher_cosine']:.4f}, BLEU {rt['bleu']:.2f}, "
              f"chrF {rt['chrf']:.2f}, exact {rt['exact']:.1f} %")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
