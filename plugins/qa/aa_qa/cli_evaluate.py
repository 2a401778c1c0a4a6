"""`aa evaluate --checkpoint DIR`: re-evaluate a saved model on its held-out split."""
from __future__ import annotations


def add_parser(sub):
    p = sub.add_parser("evaluate", help="re-evaluate a saved checkpoint (report: JSON + Markdown + PNG)")
    p.add_argument("--checkpoint", required=True, metavar="DIR", help="checkpoint directory (metadata.json + model.safetensors)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY.PATH=VALUE",
                   help="override a data/evaluate/run value of the saved spec, e.g. --set evaluate.split=validation")
    p.add_argument("--allow-change", dest="allow_change", action="append", default=[], metavar="data", choices=["data"],
                   help="evaluate on data other than the checkpoint's (a --set data.* that re-splits or changes them); "
                        "refused without it, and the report says the test split is not the training run's")
    return p


def main(args) -> int:
    from aa_core.run import load_verified

    from .evaluate import evaluate_checkpoint  # torch: imported when the command runs, not when `aa` lists its commands

    # prints the table and where the report went (a new folder per evaluation, naming the checkpoint)
    evaluate_checkpoint(load_verified(args.checkpoint), list(args.overrides), list(args.allow_change))
    return 0
