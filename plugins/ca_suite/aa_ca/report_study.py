"""Seed studies of the classification / reasoning tasks, in one process, with the core's trainer.

``python -m aa_ca.report_study --spec examples/ca/mnist1d.toml --label mlp --seeds 0,1,2 --set pipeline.name=mlp_classifier
--out docs/tasks/ca_runs.jsonl`` trains each seed exactly as ``aa run`` does (the spec's [train]
settings through :func:`aa_core.train.fit`) but without checkpoints, scores the test split with the
dataset's ``test_metrics`` and appends one JSON line per seed. :func:`summarise` turns the lines
into means and 95 % intervals per label.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from .report import mean_interval


def run_seed(spec_path: str, overrides: list[str], seed: int) -> dict[str, Any]:
    import torch

    from aa_core.assemble import BuildContext, build_model, count_params
    from aa_core.spec import load_spec
    from aa_core.train import fit

    spec = load_spec(spec_path, [*overrides, f"train.seed={seed}"])
    cfg = spec.sections["train"]
    dataset = BuildContext(spec).build("dataset")
    torch.manual_seed(seed)
    model, ctx = build_model(spec)
    if hasattr(dataset, "setup"):
        dataset.setup(model, ctx)
    t0 = time.time()
    result = fit(model, dataset, cfg, progress=False)
    test = dataset.test_metrics(model)
    test.pop("examples", None)
    return {"seed": seed, "params": count_params(model), "best": result["best"], "best_epoch": result["best_epoch"],
            "train_s": round(time.time() - t0, 1), "test": test}


def summarise(lines: list[dict[str, Any]], key: str) -> dict[str, dict[str, float]]:
    """Per label: mean, 95 % half-interval and n of ``test[key]`` over the seeds."""
    by: dict[str, list[float]] = {}
    for row in lines:
        if key in row["test"]:
            by.setdefault(row["label"], []).append(float(row["test"][key]))
    out = {}
    for label, values in by.items():
        m, h = mean_interval(values)
        out[label] = {"mean": m, "half_interval": h, "n": len(values), "values": values}
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--spec", required=True)
    ap.add_argument("--label", required=True)
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--set", action="append", default=[], dest="overrides")
    ap.add_argument("--out", required=True)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    for seed in [int(s) for s in args.seeds.split(",")]:
        row = {"label": args.label, "spec": args.spec, "overrides": args.overrides, **run_seed(args.spec, args.overrides, seed)}
        with open(Path(args.out), "a") as f:  # one complete line per seed (appended: the study grows run by run)
            f.write(json.dumps(row) + "\n")
        print(json.dumps({k: row[k] for k in ("label", "seed", "params", "best", "train_s")} | {"test": {k: v for k, v in row["test"].items() if k != "curves"}}), flush=True)


if __name__ == "__main__":
    main()
