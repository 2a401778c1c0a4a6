"""Non-cellular baselines of the self-classifying digits task, on the task's own split (issue 37).

The task is scikit-learn's 8×8 digits (1,797 images), split by ``aa_ca``'s ``Digits`` dataset (its default
``split_seed`` 0: 20 % test, 10 % validation). Per-image classifiers, a weaker target than the lattice's
per-cell agreement but the same images: multinomial logistic regression (its C chosen on validation
from a grid, then refit on train) and 1-nearest-neighbour. Deterministic: no seeds.

    python scripts/digits_baselines.py    # prints the figures and upserts docs/tasks/digits_baselines.csv
"""
from __future__ import annotations

import shlex
import sys
from pathlib import Path

from aa_ca.classifier_config import DigitsConfig
from aa_ca.digits_task import Digits
from aa_sweep.study import COLUMNS, upsert

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "docs" / "tasks" / "digits_baselines.csv"


def main() -> int:
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import KNeighborsClassifier

    data = Digits(DigitsConfig())
    xs = {k: (x.numpy(), y.numpy()) for k, (x, y) in data.splits.items()}
    (xt, yt), (xv, yv), (xs_, ys) = xs["train"], xs["validation"], xs["test"]
    grid = [0.01, 0.1, 1.0, 10.0, 100.0]
    val = {c: LogisticRegression(C=c, max_iter=5000).fit(xt, yt).score(xv, yv) for c in grid}
    best = max(grid, key=lambda c: (val[c], -c))
    models = {f"logistic regression (C={best:g}, chosen on validation)": (LogisticRegression(C=best, max_iter=5000), 64 * 10 + 10),
              "1-nearest-neighbour": (KNeighborsClassifier(n_neighbors=1), 0)}
    rows = []
    for name, (model, params) in models.items():
        model.fit(xt, yt)
        v, t = float(model.score(xv, yv)), float(model.score(xs_, ys))
        print(f"{name}: validation {100 * v:.1f} %, test {100 * t:.1f} %  (train {len(yt)}, test {len(ys)} images)")
        r = dict.fromkeys(COLUMNS, "")
        r.update(task="digits (8×8, per image)", config=name, settings=f"split_seed={data.config.split_seed}", pipeline="scikit-learn",
                 params=str(params) if params else "", seeds="0", metric="test_accuracy", mode="max", val_mean=f"{v:.4f}",
                 test_mean=f"{t:.4f}", test_per_seed=f"{t:.4f}", note="per-image classification of the same images and split; deterministic",
                 command=shlex.join([sys.executable.rsplit("/", 1)[-1], "scripts/digits_baselines.py"]))
        rows.append(r)
    upsert(OUT, rows)
    print(f"wrote {OUT.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
