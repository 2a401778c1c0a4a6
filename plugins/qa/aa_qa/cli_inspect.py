"""`aa inspect --checkpoint DIR "question"`: what happens inside the lattice, as a picture."""
from __future__ import annotations

import math
from pathlib import Path


def add_parser(sub):
    p = sub.add_parser("inspect", help="picture of the lattice's states for one question (slices per step, light cone, output face)")
    p.add_argument("--checkpoint", required=True, metavar="DIR", help="checkpoint or run directory")
    p.add_argument("question")
    p.add_argument("--out", default="inspect.png", metavar="FILE.png", help="the picture (default inspect.png)")
    p.add_argument("--animate", default=None, metavar="FILE.gif", help="also write an animation, one frame per step")
    p.add_argument("--frames", type=int, default=8, help="steps shown in the picture (evenly spaced, first and last included)")
    return p


def main(args) -> int:
    from aa_core.plugin import UserError

    from .ask import NONFINITE, decode_scored, restore_for_answers
    from .cli_ask import argument_text, load_verified
    from .lattice_view import animation, picture, trace

    if not args.out.lower().endswith(".png"):
        raise UserError(f"--out {args.out}: the picture is a PNG; give a file name ending in .png")
    question = argument_text(args.question, "the question argument")  # not UTF-8: exit 2 naming it, before any work
    model, ctx, decoder = restore_for_answers(load_verified(args.checkpoint))
    x = ctx.tokenizer.encode([question])
    tr = trace(model, x)
    texts, score = decode_scored(tr["prediction"], ctx, decoder)
    s = float(score[0])
    answer = f"{texts[0]}  (similarity {s:.3f})" if math.isfinite(s) else f"(no answer: {NONFINITE})"
    print(f"Q: {question}\nA: {answer}", flush=True)
    path = picture(model, tr, question, answer, Path(args.out), frames=max(2, args.frames))
    print(f"picture: {path}", flush=True)
    if args.animate:
        print(f"animation: {animation(model, tr, Path(args.animate))}", flush=True)
    return 0
