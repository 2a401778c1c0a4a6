"""The example beside a same-size MLP: both trained by the core's trainer with the spec's [train]
settings on the same split, over several seeds; validation and test accuracy, and the paired
difference in test accuracy (lattice − MLP) with its 95 % t interval over seeds.

    python examples/plugins/aa-digits/tests/compare.py [--seeds 3] [--set KEY=VALUE ...]

Prints one line per seed and system, then one JSON line with the summary.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from aa_digits.model import FaceConsensus
from torch import nn

from aa_core.assemble import build_model, count_params
from aa_core.spec import load_spec
from aa_core.stats import t_interval
from aa_core.train import fit

SPEC = Path(__file__).resolve().parents[4] / "examples" / "digits.toml"


class SameSizeMLP(nn.Module):
    """64 → hidden → 10 with ReLU, hidden chosen so the parameter count matches ``params`` (±75)."""

    training_loss = FaceConsensus.training_loss
    scores = FaceConsensus.scores
    validation_metrics = FaceConsensus.validation_metrics

    def __init__(self, params: int):
        super().__init__()
        hidden = max(1, round((params - 10) / 75))  # 64·h + h + 10·h + 10
        self.hidden, self.readout = nn.Linear(64, hidden), nn.Linear(hidden, 10)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.readout(torch.relu(self.hidden(inputs)))


def train(model: nn.Module, dataset, cfg) -> dict:
    t0 = time.process_time()
    result = fit(model, dataset, cfg, progress=False)
    return {"params": count_params(model), "best_epoch": result["best_epoch"], "val_accuracy": result["best"]["val_accuracy"],
            "test_accuracy": model.scores(dataset, "test")["accuracy"], "cpu_s": time.process_time() - t0}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--set", dest="overrides", action="append", default=[])
    args = ap.parse_args()
    rows: dict[str, list[dict]] = {"lattice": [], "mlp": []}
    for seed in range(args.seeds):
        spec = load_spec(str(SPEC), [*args.overrides, f"train.seed={seed}", "run.progress=false"])
        cfg = spec.sections["train"]
        torch.manual_seed(seed)
        lattice, ctx = build_model(spec)
        dataset = ctx.build("dataset")
        rows["lattice"].append(train(lattice, dataset, cfg))
        torch.manual_seed(seed)
        rows["mlp"].append(train(SameSizeMLP(count_params(lattice)), dataset, cfg))
        for name in rows:
            print(f"seed {seed} {name}: {json.dumps(rows[name][-1])}", flush=True)
    summary = {name: {k: t_interval([r[k] for r in rs]) for k in ("val_accuracy", "test_accuracy", "cpu_s")} | {"params": rs[0]["params"]}
               for name, rs in rows.items()}
    diff = t_interval([a["test_accuracy"] - b["test_accuracy"] for a, b in zip(rows["lattice"], rows["mlp"])])
    print(json.dumps({"seeds": args.seeds, "overrides": args.overrides, **summary, "paired_test_accuracy_lattice_minus_mlp": diff}))


if __name__ == "__main__":
    main()
