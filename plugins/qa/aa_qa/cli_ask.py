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

    from .abstain import threshold
    from .ask import answer_details, restore_for_answers

    questions = []
    for q in args.questions:
        questions.extend([line.strip() for line in sys.stdin if line.strip()] if q == "-" else [q])
    questions = [q for q in questions if q.strip()]
    if not questions:
        raise UserError('no question given (or only empty ones): aa ask --checkpoint DIR "your question" ...')
    ckpt = load_verified(args.checkpoint)
    limit = threshold(ckpt.metadata)  # None: a checkpoint from before abstention; nothing is marked
    model, ctx, decoder = restore_for_answers(ckpt)
    for a in answer_details(model, ctx, decoder, questions, threshold=limit):
        if args.json:
            print(json.dumps({"question": a.question, "answer": a.text, "cosine": a.score, "abstained": a.abstained, "new_text": a.novel},
                             ensure_ascii=False))
        else:
            note = f"; abstained: below the calibrated threshold {limit:.3f}, best guess shown" if a.abstained else ""
            if a.novel is not None:
                note += "; new text, not a training answer" if a.novel else "; a training answer, reproduced"
            print(f"Q: {a.question}\nA: {a.text}   (cosine {a.score:.3f}{note})\n")
    return 0
