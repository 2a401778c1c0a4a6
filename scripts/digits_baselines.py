"""Non-cellular baselines of the self-classifying digits task, on the task's own split (issue 37).

The task is scikit-learn's 8×8 digits (1,797 images), split by ``aa_ca``'s ``Digits`` dataset (its default
``split_seed`` 0: 20 % test, 10 % validation). Per-image classifiers, a weaker target than the lattice's
per-cell agreement but the same images: multinomial logistic regression (its C chosen on validation
from a grid, then refit on train) and 1-nearest-neighbour (deterministic: no seeds), and an MLP of the
Growing-NCA lattice's size (one hidden layer of 302: 22,660 parameters against the lattice's 22,700;
scikit-learn's ``MLPClassifier``, Adam, its L2 penalty chosen on validation with seed 0, then seeds 0–4).

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
    from sklearn.neural_network import MLPClassifier

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
    rows.append(same_size_mlp(MLPClassifier, xt, yt, xv, yv, xs_, ys, data.config.split_seed))
    upsert(OUT, rows)
    print(f"wrote {OUT.relative_to(REPO)}")
    return 0


HIDDEN = 302  # 64·302 + 302 + 302·10 + 10 = 22,660 parameters (the Growing-NCA lattice: 22,700)
SEEDS = range(5)


def same_size_mlp(MLPClassifier, xt, yt, xv, yv, xs_, ys, split_seed: int) -> dict[str, str]:
    """The lattice-sized MLP: alpha chosen on validation (seed 0), then five seeds; mean and 95 % t interval."""
    from aa_core.run import t_interval

    def fit(alpha: float, seed: int):
        return MLPClassifier((HIDDEN,), alpha=alpha, learning_rate_init=1e-3, max_iter=2000, random_state=seed).fit(xt, yt)

    grid = [1e-4, 1e-3, 1e-2, 1e-1, 1.0]
    val = {a: fit(a, 0).score(xv, yv) for a in grid}
    alpha = max(grid, key=lambda a: (val[a], a))
    models = [fit(alpha, seed) for seed in SEEDS]
    params = sum(w.size for w in models[0].coefs_) + sum(b.size for b in models[0].intercepts_)
    v = [float(m.score(xv, yv)) for m in models]
    t = [float(m.score(xs_, ys)) for m in models]
    mean, lo, hi = t_interval(t)
    print(f"MLP {HIDDEN} (alpha {alpha:g} on validation, {params:,} parameters): validation {100 * sum(v) / len(v):.1f} %, "
          f"test {100 * mean:.1f} % [{100 * lo:.1f}, {100 * hi:.1f}] over seeds {list(SEEDS)}")
    r = dict.fromkeys(COLUMNS, "")
    r.update(task="digits (8×8, per image)", config=f"MLP 64-{HIDDEN}-10, the lattice's size (alpha={alpha:g}, chosen on validation)",
             settings=f"split_seed={split_seed}", pipeline="scikit-learn MLPClassifier", params=str(params),
             seeds=",".join(str(s) for s in SEEDS), metric="test_accuracy", mode="max", val_mean=f"{sum(v) / len(v):.4f}",
             test_mean=f"{mean:.4f}", test_lo=f"{lo:.4f}", test_hi=f"{hi:.4f}", test_per_seed=";".join(f"{x:.4f}" for x in t),
             note="per-image classification of the same images and split; scikit-learn's Adam loop, not AA's trainer",
             command=shlex.join([sys.executable.rsplit("/", 1)[-1], "scripts/digits_baselines.py"]))
    return r


if __name__ == "__main__":
    sys.exit(main())
