"""`aa ask --checkpoint DIR "question" ...`: answer questions with a trained model, no retraining."""
from __future__ import annotations

import json
import sys
import warnings


def add_parser(sub):
    p = sub.add_parser("ask", help="answer questions with a saved checkpoint (no retraining)")
    p.add_argument("--checkpoint", required=True, metavar="DIR", help="checkpoint directory (metadata.json + model.safetensors)")
    p.add_argument("questions", nargs="*", metavar="QUESTION", help="questions to answer ('-' reads one per line from stdin)")
    p.add_argument("--json", action="store_true", help="print one JSON object per answer")
    return p


def load_verified(directory):
    """load_checkpoint with its warnings printed as one-line `aa: warning:` messages."""
    from ..checkpoint import load_checkpoint

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ckpt = load_checkpoint(directory)
    for w in caught:
        if issubclass(w.category, (UserWarning, FutureWarning)):
            print(f"aa: warning: {w.message}", file=sys.stderr)
    return ckpt


def qa_function(module: str, name: str):
    """A function of the Q→A package, or a UserError saying it is missing from this install."""
    from importlib import import_module

    from .._errors import UserError

    try:
        return getattr(import_module(module), name)
    except (ImportError, AttributeError) as exc:
        raise UserError(f"this installation has no {module}.{name} ({exc}); reinstall aa-core") from None


def main(args) -> int:
    from .._errors import UserError
    from ..checkpoint import build_from_checkpoint

    questions = []
    for q in args.questions:
        questions.extend([line.strip() for line in sys.stdin if line.strip()] if q == "-" else [q])
    if not questions:
        raise UserError('no question given: aa ask --checkpoint DIR "your question" ...')
    ckpt = load_verified(args.checkpoint)
    answer = qa_function("aa_core.qa.ask", "answer")
    decoder_from_checkpoint = qa_function("aa_core.qa.ask", "decoder_from_checkpoint")
    model, ctx = build_from_checkpoint(ckpt)
    decoder = decoder_from_checkpoint(ckpt, ctx)
    for question, text, score in answer(model, ctx, decoder, questions):
        if args.json:
            print(json.dumps({"question": question, "answer": text, "cosine": float(score)}, ensure_ascii=False))
        else:
            print(f"Q: {question}\nA: {text}   (cosine {float(score):.3f})\n")
    return 0
