"""Writing the evaluation report: JSON, Markdown, a terminal table and a PNG (atomic writes)."""
from __future__ import annotations

import math
from pathlib import Path

from aa_core.plugin import atomic_path, finite_only, table

COLUMNS = [("cosine", "cosine"), ("centred_cosine", "centred"), ("recall_at_1", "R@1"), ("recall_at_10", "R@10"),
           ("mrr", "MRR"), ("exact_match", "EM"), ("token_f1", "F1"), ("bleu", "BLEU"), ("chrf", "chrF"),
           ("rouge_l", "ROUGE-L"), ("decoded_cosine", "decoded cos")]
WITH_CI = ("cosine", "recall_at_1", "mrr")
PAIRED_KEYS = [("cosine", "cosine"), ("recall_at_1", "R@1"), ("recall_at_10", "R@10"), ("mrr", "MRR"),
               ("exact_match", "EM"), ("token_f1", "F1"), ("chrf", "chrF"), ("rouge_l", "ROUGE-L")]
HEADLINE = ("cosine", "recall_at_1", "mrr")

DESCRIPTIONS = {
    "lattice": "the spec's model (lattice pipeline)",
    "random": "a different test item's true answer (random pairing)",
    "mean_answer": "constant: mean training-answer embedding",
    "identity": "the question's own embedding",
    "identity_offset": "the question plus the mean training offset mean(answer − question); nothing learned",
    "ridge": "ridge regression E(q)→E(a), λ chosen on validation",
    "nearest_neighbour": "answer of the most similar training question",
    "mlp_same_params": "one-hidden-layer MLP with the lattice's parameter count, same training",
    "adapters_only": "the same pipeline and adapters with the lattice bypassed (input face copied to output face), same training",
}


def _fmt(v) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    return f"{v:.4f}" if abs(v) < 1.5 else f"{v:.2f}"


def _ci(m: dict, key: str) -> str:
    if f"{key}_ci95" not in m:
        return _fmt(m.get(key))
    lo, hi = m[f"{key}_ci95"]
    return f"{_fmt(m[key])} [{_fmt(lo)}, {_fmt(hi)}]"


def invalid(systems: dict[str, dict]) -> dict[str, str]:
    """name → why, for the systems marked invalid (non-finite predictions): they get no numbers and no verdicts."""
    return {n: str(m["invalid"]) for n, m in systems.items() if m.get("invalid")}


def invalid_lines(systems: dict[str, dict]) -> list[str]:
    return [f"{n}: INVALID, no numbers reported: {why}" for n, why in invalid(systems).items()]


def rows(systems: dict[str, dict]) -> tuple[list[str], list[list[str]]]:
    """Header and one row per valid system (invalid ones are listed apart, without numbers)."""
    systems = {n: m for n, m in systems.items() if not m.get("invalid")}
    present = [(k, lab) for k, lab in COLUMNS if any(k in m for m in systems.values())]
    header = ["system"] + [f"{lab} [95% CI]" if k in WITH_CI else lab for k, lab in present]
    out = [[name] + [_ci(m, k) if k in WITH_CI else _fmt(m.get(k)) for k, _ in present] for name, m in systems.items()]
    return header, out


def terminal_table(systems: dict[str, dict]) -> str:
    header, body = rows(systems)
    return "\n".join(([table(header, body)] if body else []) + invalid_lines(systems))


def _signed(v: float) -> str:
    return "–" if v is None or math.isnan(v) else f"{v:+.4f}" if abs(v) < 1.5 else f"{v:+.2f}"


def paired_rows(paired: dict[str, dict]) -> tuple[list[str], list[list[str]]]:
    """One row per baseline: (model − baseline) [95% paired interval] per metric."""
    present = [(k, lab) for k, lab in PAIRED_KEYS if any(k in p for p in paired.values())]
    header = ["lattice − baseline"] + [lab for _, lab in present]
    out = []
    for name, p in paired.items():
        cells = []
        for k, _ in present:
            d = p.get(k)
            cells.append("" if d is None else f"{_signed(d['diff'])} [{_signed(d['ci95'][0])}, {_signed(d['ci95'][1])}]")
        out.append([name] + cells)
    return header, out


def comparison(report: dict, model: str = "lattice") -> list[str]:
    """One line per baseline, worded from the paired intervals: higher / lower / no difference detected."""
    bad = invalid(report.get("systems", {}))
    if model in bad:
        return [f"{model}: no verdict against any baseline: {model} is invalid (non-finite predictions)"]
    out = [f"{model} vs {name}: no verdict: {name} is invalid (non-finite predictions)" for name in bad]
    for name, p in report.get("paired", {}).items():
        groups: dict[str, list[str]] = {"higher": [], "lower": [], "no difference detected": []}
        for k, lab in PAIRED_KEYS:
            if k in p:
                groups[p[k]["verdict"]].append(lab)
        parts = [f"{v} on {', '.join(ks)}" for v, ks in groups.items() if ks]
        out.append(f"{model} vs {name}: " + "; ".join(parts) + " (paired 95% intervals)")
    return out


def markdown(report: dict) -> str:
    header, body = rows(report["systems"])
    meta = report["meta"]
    lines = [f"# Q→A evaluation report ({meta['split']} split)", ""]
    if meta.get("data_changed"):
        lines += [f"**The test split is not the training run's.** {meta['data_changed']}", ""]
    bad = invalid(report["systems"])
    if bad:
        lines += ["**Invalid systems, no numbers reported** (their predictions are not finite, so no metric or verdict of them "
                  "means anything):", ""] + [f"- **{n}**: {why}" for n, why in bad.items()] + [""]
    ck = meta.get("checkpoint")
    if ck:
        lines.append(f"- checkpoint evaluated: run `{ck.get('run_id')}`, `{ck.get('name')}` (`{ck.get('path')}`); "
                     f"weights sha256 `{ck.get('weights_sha256')}`")
    lines.append(f"- spec: `{meta['spec']}`; run `{meta['run_id']}`; dataset hash `{meta['dataset_hash'][:16]}`; "
                 f"sizes {meta['sizes']}")
    lines.append(f"- lattice parameters: {meta['lattice_params']:,}; decoder: {meta['decoder']}")
    if meta.get("param_breakdown"):
        total = max(meta["lattice_params"], 1)
        lines.append("- parameters per component: " + ", ".join(f"{k} {v:,} ({100 * v / total:.1f} %)" for k, v in meta["param_breakdown"].items()))
    for k in ("ridge_lambda", "mlp_hidden", "mlp_params", "adapters_only_params", "multi_reference_items"):
        if k in meta:
            lines.append(f"- {k}: {meta[k]}")
    if meta.get("bleu_signature"):
        lines.append(f"- BLEU signature: `{meta['bleu_signature']}`; ROUGE-L: rouge_score F1, best reference, ×100")
    if meta.get("reconstruction_error"):
        lines.append(f"- adapter reconstruction error (relative MSE on {meta['split']} inputs): {meta['reconstruction_error']}")
    lines += ["", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in body]
    if report.get("paired"):
        ph, pb = paired_rows(report["paired"])
        lines += ["", "Paired differences (lattice − baseline, 95% interval"
                  + (": mean over folds, Student-t" if meta.get("folds") else ": paired bootstrap over the same items") + "):", ""]
        lines += ["| " + " | ".join(ph) + " |", "|" + "---|" * len(ph)]
        lines += ["| " + " | ".join(r) + " |" for r in pb]
        lines += [""] + [f"- {c}" for c in comparison(report)]
    elif bad:
        lines += [""] + [f"- {c}" for c in comparison(report)]
    lines += ["", "Systems:"] + [f"- **{n}**: {DESCRIPTIONS.get(n, '')}" + (" (INVALID: non-finite predictions)" if n in bad else "")
                                 for n in report["systems"]]
    lines += ["", "Cosine: mean cos(prediction, teacher embedding of the true answer). Centred: the same after subtracting "
              "the mean training answer from both. R@k / MRR: rank of the best correct answer among all test answers "
              "(a test answer equal to any accepted answer counts as correct; ties count against the model). EM / F1: "
              "exact match and token F1 of the decoded text against every accepted answer (SQuAD normalisation), ×100. "
              "BLEU / chrF: sacrebleu corpus scores with all references. Intervals: percentile bootstrap over items; "
              "'higher' / 'lower' means the paired 95% interval of (lattice − baseline) excludes 0.", ""]
    return "\n".join(lines)


def _colours(names: list[str]) -> dict[str, str]:
    palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]
    return {n: palette[i % len(palette)] for i, n in enumerate(names)}


def plot(report: dict, path: Path) -> None:
    """Four panels: training loss, validation metric (marker at the chosen epoch), held-out metrics with
    intervals, and paired differences to the model with intervals; one colour per system throughout."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colour = _colours(list(report["systems"]))
    names = [n for n, m in report["systems"].items() if not m.get("invalid")]
    select = report["meta"].get("select_on") or "val_cosine"
    fig, axes = plt.subplots(2, 2, figsize=(14, 9))
    (ax_loss, ax_val), (ax_bar, ax_pair) = axes
    for name, hist in report.get("history", {}).items():
        if not hist:
            continue
        ep = [h["epoch"] for h in hist]
        c = colour.get(name, "k")
        ax_loss.plot(ep, [h["train_loss"] for h in hist], color=c, label=name)
        vals = [h.get(select, math.nan) for h in hist]
        ax_val.plot(ep, vals, color=c, label=name)
        best = (min if select == "val_loss" else max)(range(len(vals)), key=lambda i: vals[i])
        ax_val.plot([ep[best]], [vals[best]], "o", color=c, markersize=8, markeredgecolor="k")
    ax_loss.set(xlabel="epoch", ylabel="training loss", title="training loss")
    ax_val.set(xlabel="epoch", ylabel=select.replace("_", " "), title=f"validation {select.removeprefix('val_')} (● chosen epoch)")
    for ax in (ax_loss, ax_val):
        if ax.lines:
            ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    keys = [k for k in ("cosine", "recall_at_1", "recall_at_10", "mrr") if all(k in report["systems"][n] for n in names)]
    w = 0.8 / max(len(names), 1)
    for i, n in enumerate(names):
        m = report["systems"][n]
        xs = [j + i * w for j in range(len(keys))]
        ys = [m[k] for k in keys]
        err = [[max(0.0, m[k] - m[f"{k}_ci95"][0]) if f"{k}_ci95" in m else 0 for k in keys],
               [max(0.0, m[f"{k}_ci95"][1] - m[k]) if f"{k}_ci95" in m else 0 for k in keys]]
        ax_bar.bar(xs, ys, w, yerr=err, capsize=2, color=colour[n], label=n)
    ax_bar.set_xticks([j + 0.4 - w / 2 for j in range(len(keys))], keys)
    ax_bar.set(ylabel="value (95% bootstrap interval)", title=f"held-out {report['meta']['split']} metrics")
    ax_bar.legend(fontsize=7, ncol=5, loc="upper center", bbox_to_anchor=(0.5, -0.1))
    ax_bar.grid(axis="y", alpha=0.3)
    paired = report.get("paired", {})
    pk = [k for k in ("cosine", "recall_at_1", "mrr") if paired and all(k in p for p in paired.values())]
    base = list(paired)
    for j, k in enumerate(pk):
        for i, n in enumerate(base):
            d = paired[n][k]
            y = j * (len(base) + 1) + i
            lo, hi = d["ci95"]
            ax_pair.errorbar([d["diff"]], [y], xerr=[[d["diff"] - lo], [hi - d["diff"]]], fmt="o", color=colour.get(n, "k"), capsize=3)
    ax_pair.axvline(0, color="k", lw=0.8)
    ax_pair.set_yticks([j * (len(base) + 1) + i for j in range(len(pk)) for i in range(len(base))],
                       [f"{k}: {n}" for k in pk for n in base], fontsize=7)
    ax_pair.invert_yaxis()
    ax_pair.set(xlabel="lattice − baseline (paired 95% interval)", title="paired differences (right of 0: lattice higher)")
    ax_pair.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)


def new_folder(parent: Path, name: str, key: str = "run.output_dir") -> Path:
    """A new report folder ``parent/name[-N]``, created exclusively: never one another evaluation wrote.

    On a disk too full for even an empty folder, ``parent/name`` is returned uncreated:
    :func:`write_or_elsewhere` then keeps the report in another place and says where.
    """
    from aa_core.plugin import UserError
    from aa_core.run import create_run_dir, free_bytes

    try:
        return create_run_dir(parent, name)
    except UserError as exc:  # its message names the checkpoint folder's key; this one is the report's
        if free_bytes(parent) < 1 << 20:
            return Path(parent) / name
        raise UserError(str(exc).replace("run.checkpoint_dir", key)) from None


def write_or_elsewhere(report: dict, folder: Path, png: bool = True, elsewhere: list[Path] | None = None) -> dict[str, Path]:
    """:func:`write` into ``folder`` through a staging folder; when its disk is full the report goes to the first
    of ``elsewhere`` (else the system's temporary folder) that takes it and a UserError says where (exit 2): a
    finished evaluation is never lost, and nothing half-written stays on the full disk (nor the empty ``folder``)."""
    import contextlib
    import json

    from aa_core.run import write_files_or_elsewhere

    try:
        return write_files_or_elsewhere(folder, lambda stage: write(report, stage, png=png), key="run.output_dir",
                                        elsewhere=elsewhere or [], dump=lambda: json.dumps(finite_only(report), ensure_ascii=False))
    except BaseException:
        with contextlib.suppress(OSError):
            folder.rmdir()  # only when empty: the exclusive folder made for this report
        raise


def write(report: dict, directory: Path, png: bool = True) -> dict[str, Path]:
    from aa_core.plugin import write_json

    directory.mkdir(parents=True, exist_ok=True)
    paths = {"json": directory / "report.json", "markdown": directory / "report.md"}
    write_json(paths["json"], finite_only(report))
    with atomic_path(paths["markdown"]) as tmp:
        Path(tmp).write_text(markdown(report), encoding="utf-8")
    if png:
        paths["png"] = directory / "report.png"
        plot(report, paths["png"])
    return paths
