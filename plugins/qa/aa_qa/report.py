"""Writing the evaluation report: JSON, Markdown, a terminal table and a PNG (atomic writes)."""
from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path

from aa_core.plugin import table

COLUMNS = [("cosine", "cosine"), ("centred_cosine", "centred"), ("recall_at_1", "R@1"), ("recall_at_10", "R@10"),
           ("mrr", "MRR"), ("bleu", "BLEU"), ("rouge_l", "ROUGE-L"), ("decoded_cosine", "decoded cos")]

DESCRIPTIONS = {
    "lattice": "the spec's model (lattice pipeline)",
    "random": "a different test item's true answer (random pairing)",
    "mean_answer": "constant: mean training-answer embedding",
    "identity": "the question's own embedding",
    "ridge": "ridge regression E(q)→E(a), λ chosen on validation",
    "nearest_neighbour": "answer of the most similar training question",
    "mlp_same_params": "one-hidden-layer MLP with the lattice's parameter count, same training",
}


def _fmt(v) -> str:
    return "nan" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.4f}" if abs(v) < 1.5 else f"{v:.2f}"


def rows(systems: dict[str, dict]) -> tuple[list[str], list[list[str]]]:
    header = ["system", "cosine [95% CI]"] + [label for key, label in COLUMNS[1:]]
    out = []
    for name, m in systems.items():
        lo, hi = m["cosine_ci95"]
        out.append([name, f"{m['cosine']:.4f} [{lo:.4f}, {hi:.4f}]"] + [_fmt(m.get(k)) for k, _ in COLUMNS[1:]])
    return header, out


def terminal_table(systems: dict[str, dict]) -> str:
    return table(*rows(systems))


def comparison(systems: dict[str, dict], model: str = "lattice") -> list[str]:
    """One line per baseline: on which headline metrics the model is higher, and whether the cosine CIs are disjoint."""
    if model not in systems:
        return []
    m = systems[model]
    out = []
    for name, b in systems.items():
        if name == model:
            continue
        wins = [k for k in ("cosine", "recall_at_1", "mrr") if m[k] > b[k]]
        losses = [k for k in ("cosine", "recall_at_1", "mrr") if m[k] < b[k]]
        sep = "disjoint" if m["cosine_ci95"][0] > b["cosine_ci95"][1] or m["cosine_ci95"][1] < b["cosine_ci95"][0] else "overlapping"
        out.append(f"{model} vs {name}: higher on {', '.join(wins) or 'nothing'}; lower on {', '.join(losses) or 'nothing'} (cosine CIs {sep})")
    return out


def markdown(report: dict) -> str:
    header, body = rows(report["systems"])
    meta = report["meta"]
    lines = [f"# Q→A evaluation report ({meta['split']} split)", ""]
    lines.append(f"- spec: `{meta['spec']}`; run `{meta['run_id']}`; dataset hash `{meta['dataset_hash'][:16]}`; "
                 f"sizes {meta['sizes']}")
    lines.append(f"- lattice parameters: {meta['lattice_params']:,}; decoder: {meta['decoder']}")
    for k in ("ridge_lambda", "mlp_hidden", "mlp_params"):
        if k in meta:
            lines.append(f"- {k}: {meta[k]}")
    lines.append(f"- BLEU signature: `{meta['bleu_signature']}`; ROUGE-L: rouge_score F1 (target first), ×100")
    if meta.get("reconstruction_error"):
        lines.append(f"- adapter reconstruction error (relative MSE on {meta['split']} inputs): {meta['reconstruction_error']}")
    lines += ["", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in body]
    lines += [""] + [f"- {c}" for c in comparison(report["systems"])]
    lines += ["", "Systems:"] + [f"- **{n}**: {DESCRIPTIONS.get(n, '')}" for n in report["systems"]]
    lines += ["", "Cosine: mean cos(prediction, teacher embedding of the true answer), percentile bootstrap 95% CI. "
              "Centred: the same after subtracting the mean training answer from both. R@k / MRR: rank of the true "
              "answer among all test answers (identical answer texts count as correct). Text metrics decode with the "
              "phrase bank; decoded cos re-uses the teacher embedding of the decoded text.", ""]
    return "\n".join(lines)


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def plot(report: dict, path: Path) -> None:
    """Training curves (left) and a grouped bar chart of the main metrics per system (right)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 4.8))
    for name, hist in report.get("history", {}).items():
        if not hist:
            continue
        ep = [h["epoch"] for h in hist]
        ax1.plot(ep, [h["train_loss"] for h in hist], label=f"{name} train loss")
        ax1.plot(ep, [h["val_cosine"] for h in hist], "--", label=f"{name} val cosine")
    ax1.set_xlabel("epoch")
    ax1.set_title("training")
    ax1.legend(fontsize=8)
    keys = ["cosine", "centred_cosine", "recall_at_1", "recall_at_10", "mrr"]
    names = list(report["systems"])
    w = 0.8 / max(len(names), 1)
    for i, n in enumerate(names):
        ax2.bar([k + i * w for k in range(len(keys))], [report["systems"][n][k] for k in keys], w, label=n)
    ax2.set_xticks([k + 0.4 - w / 2 for k in range(len(keys))], keys, fontsize=8)
    ax2.set_title(f"held-out {report['meta']['split']} metrics")
    ax2.legend(fontsize=7)
    fig.tight_layout()
    fd, tmp = tempfile.mkstemp(prefix=".report.", suffix=".png", dir=path.parent)
    os.close(fd)
    try:
        fig.savefig(tmp, dpi=110)
        os.replace(tmp, path)
    finally:
        plt.close(fig)
        if os.path.exists(tmp):
            os.unlink(tmp)


def write(report: dict, directory: Path, png: bool = True) -> dict[str, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    paths = {"json": directory / "report.json", "markdown": directory / "report.md"}
    _atomic_write(paths["json"], json.dumps(report, indent=2, ensure_ascii=False, default=float).encode("utf-8"))
    _atomic_write(paths["markdown"], markdown(report).encode("utf-8"))
    if png:
        paths["png"] = directory / "report.png"
        plot(report, paths["png"])
    return paths
