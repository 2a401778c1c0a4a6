"""`aa evaluate --checkpoint DIR`: re-evaluate a saved model on its held-out split."""
from __future__ import annotations

from ._common import add_set_arg


def add_parser(sub):
    p = sub.add_parser("evaluate", help="re-evaluate a saved checkpoint (report: JSON + Markdown + PNG)")
    p.add_argument("--checkpoint", required=True, metavar="DIR", help="checkpoint directory (metadata.json + model.safetensors)")
    add_set_arg(p, help="override a data/evaluate/run value of the saved spec, e.g. --set evaluate.split=validation")
    return p


def main(args) -> int:
    from .ask import load_verified, qa_function

    ckpt = load_verified(args.checkpoint)
    evaluate_checkpoint = qa_function("aa_core.qa.evaluate", "evaluate_checkpoint")
    evaluate_checkpoint(ckpt, list(args.overrides))  # prints the table and where the report went
    return 0
