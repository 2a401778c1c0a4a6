"""`aa ask --checkpoint DIR "question" ...`: answer questions with a trained model, no retraining.

Questions must be UTF-8 text. One that is not (an argument, or a line of ``-`` = stdin) is not
answered; the valid ones of the same call are answered and printed first, then the command ends
with exit 2 naming each bad argument or line (so a batch keeps its answers). A model whose
prediction is NaN/inf gives no answer: it abstains and says why.
"""
from __future__ import annotations

import json
import sys

from aa_core.plugin import argument_text, not_utf8


def read_questions(args_questions: list[str], stdin=None) -> tuple[list[str], list[str]]:
    """(questions to answer, one message per argument or stdin line that is not UTF-8); '-' reads stdin."""
    from aa_core.plugin import UserError

    questions: list[str] = []
    bad: list[str] = []
    for i, q in enumerate(args_questions, start=1):
        if q == "-":
            stream = stdin if stdin is not None else sys.stdin.buffer
            for n, raw in enumerate(stream.read().splitlines(), start=1):
                if (why := not_utf8(raw, f"stdin line {n}", "question")):
                    bad.append(why)
                elif raw.decode("utf-8").strip():
                    questions.append(raw.decode("utf-8").strip())
            continue
        try:
            q = argument_text(q, f"question argument {i}", "question")
        except UserError as exc:
            bad.append(str(exc.args[0]))
            continue
        if q.strip():
            questions.append(q)
    return questions, bad


def add_parser(sub):
    p = sub.add_parser("ask", help="answer questions with a saved checkpoint (no retraining)")
    p.add_argument("--checkpoint", required=True, metavar="DIR", help="checkpoint directory (metadata.json + model.safetensors)")
    p.add_argument("questions", nargs="*", metavar="QUESTION", help="questions to answer ('-' reads one per line from stdin)")
    p.add_argument("--json", action="store_true", help="print one JSON object per answer")
    return p


def main(args) -> int:
    from aa_core.plugin import UserError

    from .abstain import threshold  # torch: imported when a command runs, not when `aa` lists its commands
    from .answering import answer_details, restore_for_answers

    questions, bad = read_questions(list(args.questions))
    not_answered = (f"{len(bad)} question(s) not answered" + (f" ({len(questions)} answered above)" if questions else "") + ":\n  "
                    + "\n  ".join(bad))
    if not questions:
        raise UserError(not_answered if bad else 'no question given (or only empty ones): aa ask --checkpoint DIR "your question" ...')
    from aa_core.run import load_verified

    ckpt = load_verified(args.checkpoint)
    limit = threshold(ckpt.metadata)  # None: a checkpoint from before abstention; nothing is marked
    model, ctx, decoder = restore_for_answers(ckpt)
    for a in answer_details(model, ctx, decoder, questions, threshold=limit):
        if args.json:
            print(json.dumps({"question": a.question, "answer": a.text if a.finite else None, "cosine": a.score if a.finite else None,
                              "abstained": a.abstained, "new_text": a.novel, "reason": a.reason}, ensure_ascii=False), flush=True)
        elif not a.finite:
            print(f"Q: {a.question}\nA: (abstained, no answer: {a.reason})\n", flush=True)
        else:
            note = f"; abstained: below the calibrated threshold {limit:.3f}, best guess shown" if a.abstained else ""
            if a.novel is not None:
                note += "; new text, not a training answer" if a.novel else "; a training answer, reproduced"
            print(f"Q: {a.question}\nA: {a.text}   (cosine {a.score:.3f}{note})\n", flush=True)
    if bad:
        raise UserError(not_answered)
    return 0
