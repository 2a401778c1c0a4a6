"""The ``ca_report`` task: a trained classification / reasoning task's test figures beside the published ones.

Writes ``runs/<run-id>/report.json`` and ``report.md`` (and PNG pictures: self-classification frames,
1D-ARC grids) for the run's model and dataset (``state["model"]``, ``state["dataset"]`` left by
``train``). The published figures are in :data:`PUBLISHED`; :func:`published_table` renders them.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from aa_core.plugin import UserError, atomic_path, write_json, write_text

# Published figures, in percent. Sources: Greydanus & Kobak, "Scaling down deep learning with MNIST-1D",
# ICML 2024 (test accuracy); Randazzo et al., "Self-classifying MNIST digits", Distill 2020, Experiment 2
# (MNIST, < 25 K parameters); Faldor & Cully, "CAX", ICLR 2025, Table 2 (1D-ARC, exact match on the test pair).
PUBLISHED: dict[str, dict[str, float]] = {
    "mnist1d": {"logistic_regression": 32.0, "mlp": 68.0, "cnn": 94.0, "gru": 91.0},
    "mnist1d_shuffled": {"mlp": 68.0, "cnn": 56.0, "gru": 57.0},
    "self_classify": {"l2_noise_cell_accuracy_200": 95.3, "l2_noise_agreement_200": 88.1, "ce_peak_cell_accuracy": 96.2,
                      "ce_peak_step": 80},
    "arc1d": {"1d_move_1p": 100.0, "1d_move_2p": 100.0, "1d_move_3p": 100.0, "1d_move_dp": 12.0, "1d_move_2p_dp": 98.0,
              "1d_fill": 66.0, "1d_padded_fill": 28.0, "1d_hollow": 98.0, "1d_flip": 28.0, "1d_mirror": 6.0,
              "1d_denoising_1c": 100.0, "1d_denoising_mc": 58.0, "1d_pcopy_1c": 100.0, "1d_pcopy_mc": 100.0,
              "1d_recolor_oe": 0.0, "1d_recolor_cnt": 0.0, "1d_recolor_cmp": 0.0, "1d_scale_dp": 88.0},
}
ARC1D_NCA_MEAN = 60.12  # CAX Table 2, NCA mean over the 18 tasks (GPT-4: 41.56)
ARC1D_SOLVED = ("1d_move_1p", "1d_move_2p", "1d_move_3p", "1d_denoising_1c", "1d_pcopy_1c", "1d_pcopy_mc")
ARC1D_RECOLOR = ("1d_recolor_oe", "1d_recolor_cnt", "1d_recolor_cmp")
SOURCES = {
    "mnist1d": "Greydanus & Kobak, ICML 2024 (test accuracy, %)",
    "self_classify": "Randazzo et al., Distill 2020, Experiment 2 (MNIST, < 25 K parameters)",
    "arc1d": "Faldor & Cully, CAX, ICLR 2025, Table 2 (exact match on the test pair, % of problems)",
}


def published_table() -> str:
    """Every published figure as a Markdown table (task, key, value)."""
    rows = ["| task | figure | published |", "|---|---|---|"]
    for task, figures in PUBLISHED.items():
        for key, value in figures.items():
            rows.append(f"| {task} | {key} | {value:g} |")
    rows.append(f"| arc1d | NCA mean over 18 tasks | {ARC1D_NCA_MEAN:g} |")
    return "\n".join(rows) + "\n"


def mean_interval(values: list[float]) -> tuple[float, float]:
    """Mean and the half-width of its 95 % Student-t interval (0 for one value)."""
    from aa_core.stats import t_interval

    if not values:
        return math.nan, math.nan
    m, lo, hi = t_interval(values)
    return m, (0.0 if len(values) == 1 else hi - m)


def arc1d_verdict(ours: dict[str, float]) -> str:
    """Reproduced when the six tasks CAX solves reach ≥ 96 % and the recolor tasks stay ≤ 10 % (percent per task)."""
    missing = [t for t in ARC1D_SOLVED + ARC1D_RECOLOR if t not in ours]
    if missing:
        return f"incomplete: no figure for {', '.join(missing)}"
    low = [t for t in ARC1D_SOLVED if ours[t] < 96.0]
    high = [t for t in ARC1D_RECOLOR if ours[t] > 10.0]
    if not low and not high:
        return "reproduced"
    parts = ([f"below 96 %: {', '.join(low)}"] if low else []) + ([f"recolor above 10 %: {', '.join(high)}"] if high else [])
    return "not reproduced (" + "; ".join(parts) + ")"


# ---- pictures ------------------------------------------------------------------------------------
ARC_COLOURS = ["#000000", "#0074D9", "#FF4136", "#2ECC40", "#FFDC00", "#AAAAAA", "#F012BE", "#FF851B", "#7FDBFF", "#870C25"]


def arc_grids_png(path: Path, rows: list[dict[str, Any]]) -> None:
    """Input / target / prediction rows of 1D-ARC test problems, one panel per problem."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap

    cmap = ListedColormap(ARC_COLOURS)
    fig, axes = plt.subplots(len(rows), 1, figsize=(8, 1.1 * len(rows) + 0.3), squeeze=False)
    for ax, r in zip(axes[:, 0], rows):
        ax.imshow([r["input"], r["target"], r["prediction"]], cmap=cmap, vmin=0, vmax=9, aspect="auto", interpolation="nearest")
        ax.set_yticks([0, 1, 2], ["input", "target", "ours"], fontsize=7)
        ax.set_xticks([])
        ax.set_title(f"{r['problem']}: {'exact' if r['exact'] else 'wrong'}", fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)


def digits_frames_png(path: Path, frames: list[dict[str, Any]], steps: list[int]) -> None:
    """Each alive cell coloured by the class it names, at several steps, for a few test digits."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    cmap = matplotlib.colormaps["tab10"]
    fig, axes = plt.subplots(len(frames), len(steps), figsize=(1.3 * len(steps), 1.4 * len(frames)), squeeze=False)
    for i, f in enumerate(frames):
        for j, t in enumerate(steps):
            cls = np.asarray(f["classes"][j]).reshape(8, 8)
            pix = np.asarray(f["pixels"]).reshape(8, 8)
            rgb = cmap(cls % 10)[..., :3] * pix[..., None]
            ax = axes[i, j]
            ax.imshow(rgb, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(f"step {t}", fontsize=8)
            if j == 0:
                ax.set_ylabel(f"digit {f['label']}", fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)


# ---- per task ------------------------------------------------------------------------------------
def _pct(x: float) -> float:
    return round(100.0 * float(x), 2)


def mnist1d_report(model: Any, dataset: Any, spec: Any) -> dict[str, Any]:
    test = dataset.test_metrics(model)
    shuffled = bool(spec.components["dataset"][1].shuffle)
    pipeline = spec.components["pipeline"][0].component.name if "pipeline" in spec.components else "?"
    key = "mnist1d_shuffled" if shuffled else "mnist1d"
    ours = _pct(test["test_accuracy"])
    pub = PUBLISHED[key]
    same = {"mlp_classifier": "mlp", "cnn1d_classifier": "cnn"}.get(pipeline)
    verdict = None
    if same is not None:
        tol = 3.0 if same == "mlp" else 2.0
        verdict = "reproduced" if abs(ours - pub[same]) <= tol else f"not reproduced (outside {pub[same]:g} ± {tol:g})"
    return {"task": key, "source": SOURCES["mnist1d"], "pipeline": pipeline, "ours": {"test_accuracy": ours},
            "published": pub, "verdict": verdict, "pictures": []}


def digits_report(model: Any, dataset: Any, spec: Any, out: Path, cfg: Any) -> dict[str, Any]:
    import torch

    test = dataset.test_metrics(model)
    curves = test["curves"]
    ca = curves["cell_accuracy"]
    peak = max(range(len(ca)), key=lambda t: ca[t])
    cell_200 = _pct(test["test_cell_accuracy"])
    ours = {"cell_accuracy_200": cell_200, "agreement_200": _pct(test["test_agreement"]),
            "peak_cell_accuracy": _pct(ca[peak]), "peak_step": peak + 1, "eval_steps": len(ca),
            "cell_accuracy_80": _pct(ca[79]) if len(ca) >= 80 else None}
    pictures = []
    if cfg.pictures:
        steps = [s for s in (1, 5, 10, 20, 50, 100, 200) if s <= len(ca)]
        b = dataset.batch("test", torch.arange(min(cfg.examples, dataset.sizes()["test"])))
        was = model.training
        model.eval()
        with torch.no_grad():
            frames, _ = model(b["inputs"], b["mask"], steps=max(steps), trajectory=True)
        model.train(was)
        rows = []
        for i in range(len(b["targets"])):
            rows.append({"label": int(b["targets"][i]), "pixels": b["inputs"][i, :, 0].tolist(),
                         "classes": [(frames[t - 1][i].argmax(-1) * b["mask"][i]).tolist() for t in steps]})
        digits_frames_png(out / "self_classify_frames.png", rows, steps)
        pictures.append("self_classify_frames.png")
    loss = spec.components["dataset"][1].loss
    noise = getattr(spec.components["pipeline"][1], "noise", 0.0)
    return {"task": "self_classify", "source": SOURCES["self_classify"], "loss": loss, "noise": noise, "ours": ours,
            "published": PUBLISHED["self_classify"], "curves": curves, "pictures": pictures,
            "verdict": ("cell accuracy ≥ 90 % at step 200" if cell_200 >= 90 else "cell accuracy below 90 % at step 200")}


def arc1d_report(model: Any, dataset: Any, spec: Any, out: Path, cfg: Any) -> dict[str, Any]:
    test = dataset.test_metrics(model)
    task = dataset.config.task
    pictures = []
    if cfg.pictures and test["examples"]:
        arc_grids_png(out / "arc1d_grids.png", test["examples"][: cfg.examples])
        pictures.append("arc1d_grids.png")
    return {"task": "arc1d", "arc_task": task, "fold": dataset.config.fold, "source": SOURCES["arc1d"],
            "ours": {"exact_match": _pct(test["test_exact_match"]), "problems": test["problems"]},
            "published": {task: PUBLISHED["arc1d"].get(task)}, "pictures": pictures, "verdict": None}


def markdown(report: dict[str, Any]) -> str:
    lines = [f"# {report['task']}: ours beside the published figures", "", f"Source: {report['source']}.", ""]
    lines += ["| figure | ours | published |", "|---|---|---|"]
    pub = report["published"]
    for k, v in report["ours"].items():
        lines.append(f"| {k} | {v} | {pub.get(k, pub.get(report.get('arc_task', ''), '')) if isinstance(pub, dict) else ''} |")
    lines += ["", "Published:", ""] + [f"- {k}: {v:g}" for k, v in pub.items() if v is not None]
    if report.get("verdict"):
        lines += ["", f"Verdict: {report['verdict']}."]
    for p in report.get("pictures", []):
        lines += ["", f"![{p}]({p})"]
    return "\n".join(lines) + "\n"


def run_task(spec: Any, state: dict[str, Any]) -> dict[str, Any]:
    """Report the trained model of this run (the ``train`` task must come first in ``[run] tasks``)."""
    if "model" not in state or "dataset" not in state:
        raise UserError(f"{spec.source}: the ca_report task reports a trained model: put \"train\" before \"ca_report\" in [run] tasks")
    model, dataset = state["model"], state["dataset"]
    cfg = spec.sections.get("ca_report")
    if cfg is None:
        from .classifier_config import ReportConfig

        cfg = ReportConfig()
    name = spec.components["dataset"][0].component.name
    out = Path(spec.sections["run"].output_dir) / state.get("run_id", "report")
    out.mkdir(parents=True, exist_ok=True)
    if name == "mnist1d":
        report = mnist1d_report(model, dataset, spec)
    elif name == "digits":
        report = digits_report(model, dataset, spec, out, cfg)
    elif name == "arc1d":
        report = arc1d_report(model, dataset, spec, out, cfg)
    else:
        raise UserError(f"{spec.source}: ca_report reports the datasets mnist1d, digits and arc1d, not {name!r}")
    report["run_id"] = state.get("run_id")
    report["dataset_hash"] = dataset.hash
    write_json(out / "report.json", report)
    write_text(out / "report.md", markdown(report))
    print(f"ca_report: {out / 'report.md'}", flush=True)
    state["ca_report"] = report
    return report
