"""The MNIST-1D paper's own training loop, as a check of our baselines and data (not of the lattice).

``python -m aa_ca.mnist1d_paper_loop --model mlp --seeds 0,1,2,3,4 [--shuffle] [--out FILE.jsonl]``
trains our ``mlp_classifier`` / ``cnn1d_classifier`` the way the paper's ``train_model`` does: all
4,000 training sequences in their stored order, consecutive batches of 100, Adam lr 1e-2, 6,000 steps,
test accuracy every 250 steps, the last one reported (and the highest, which a reader of the paper's
curves might take). No validation split, so these figures are not comparable with the study's tables;
they only say whether the models and data land where the paper's do.
"""
from __future__ import annotations

import argparse
import json
import time

import torch
import torch.nn.functional as F

from .baselines import CNNClassifier, MLPClassifier
from .classifier_config import CNNClassifierConfig, MLPClassifierConfig
from .mnist1d_task import generate


def train(model_name: str, seed: int, shuffle: bool = False, steps: int = 6000, batch: int = 100,
          lr: float = 1e-2, eval_every: int = 250, residual: bool = True, hidden: int = 100) -> dict[str, float]:
    data = generate(42, shuffle)
    x, y = torch.tensor(data["x"], dtype=torch.float32).unsqueeze(-1), torch.tensor(data["y"], dtype=torch.long)
    xt, yt = torch.tensor(data["x_test"], dtype=torch.float32).unsqueeze(-1), torch.tensor(data["y_test"], dtype=torch.long)
    torch.manual_seed(seed)
    model = (MLPClassifier(MLPClassifierConfig(hidden=[hidden, hidden], residual=residual)) if model_name == "mlp"
             else CNNClassifier(CNNClassifierConfig()))
    opt = torch.optim.Adam(model.parameters(), lr)
    accs = []
    for step in range(steps + 1):
        i = (step * batch) % len(y)
        loss = F.cross_entropy(model(x[i:i + batch])[:, 0], y[i:i + batch])
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % eval_every == 0:
            with torch.no_grad():
                accs.append(100.0 * float((model(xt)[:, 0].argmax(-1) == yt).float().mean()))
    return {"final": round(accs[-1], 2), "highest": round(max(accs), 2)}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m aa_ca.mnist1d_paper_loop", description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", choices=["mlp", "cnn"], required=True)
    ap.add_argument("--seeds", default="0,1,2,3,4", help="comma-separated torch seeds")
    ap.add_argument("--shuffle", action="store_true", help="the spatially shuffled variant")
    ap.add_argument("--plain", action="store_true", help="MLP without the paper's residual hidden layer")
    ap.add_argument("--hidden", type=int, default=100,
                    help="MLP width (the paper's table: 100, 15,210 parameters; its 2024 train.py default: 256)")
    ap.add_argument("--out", help="append one JSON line per seed here")
    args = ap.parse_args(argv)
    for seed in (int(s) for s in args.seeds.split(",")):
        t0 = time.process_time()
        r = train(args.model, seed, args.shuffle, residual=not args.plain, hidden=args.hidden)
        name = args.model + ("_plain" if args.plain else "") + (f"_h{args.hidden}" if args.model == "mlp" and args.hidden != 100 else "")
        line = {"protocol": "paper_loop", "model": name,
                "shuffle": args.shuffle, "seed": seed, **r, "cpu_s": round(time.process_time() - t0, 1)}
        print(json.dumps(line), flush=True)
        if args.out:
            with open(args.out, "a") as f:
                f.write(json.dumps(line) + "\n")


if __name__ == "__main__":
    main()
