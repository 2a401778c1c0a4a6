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
    from aa_core.checkpoint import load_checkpoint

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ckpt = load_checkpoint(directory)
    for w in caught:
        if issubclass(w.category, (UserWarning, FutureWarning)):
            print(f"aa: warning: {w.message}", file=sys.stderr)
    return ckpt


def main(args) -> int:
    from aa_core.plugin import UserError

    from .ask import answer, restore_for_answers

    questions = []
    for q in args.questions:
        questions.extend([line.strip() for line in sys.stdin if line.strip()] if q == "-" else [q])
    questions = [q for q in questions if q.strip()]
    if not questions:
        raise UserError('no question given (or only empty ones): aa ask --checkpoint DIR "your question" ...')
    model, ctx, decoder = restore_for_answers(load_verified(args.checkpoint))
    for question, text, score in answer(model, ctx, decoder, questions):
        if args.json:
            print(json.dumps({"question": question, "answer": text, "cosine": float(score)}, ensure_ascii=False))
        else:
            print(f"Q: {question}\nA: {text}   (cosine {float(score):.3f})\n")
    return 0
