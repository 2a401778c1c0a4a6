"""The ``ca_report`` task: a trained CA task's test figures beside the published ones, with pictures.

Writes ``runs/<run-id>/report.json`` and ``report.md`` (and PNG pictures: self-classification frames,
1D-ARC grids, the voxel structure grown, damaged and regrown, the emoji growing) for the run's model
and dataset (``state["model"]``, ``state["dataset"]`` left by ``train``). The test figures are the
objective's ``test_metrics``: those the ``test`` task recorded when it ran first, else computed here.
The published figures are in :data:`PUBLISHED`; :func:`published_table` renders them. A run whose
training skipped non-finite batches (or whose test figures are NaN) gets ``valid: false`` and
``why_invalid`` in both files and no verdict: a diverged model's figures are no result. The pictures need matplotlib (``pip install 'aa-ca-suite[report]'``;
the emoji's strips and GIFs need Pillow, the ``[emoji]`` extra); ``[ca_report] pictures = false`` draws none.

``python -m aa_ca.report --curves OUT.png [--published CSV] RUN_DIR...`` plots the runs' 1 − IoU per
training step (``steps.jsonl`` of a run trained with ``[train] log_every``, and validation from
``metrics.json``) against the authors' published log.
"""
from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

from aa_core.plugin import UserError, atomic_path, finite_only, write_json, write_text

from ._extras import require

PICTURES = "ca_report's pictures"
NO_PICTURES = "; or set [ca_report] pictures = false"

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
# Not percent: the training step at which the voxel caterpillar's training batch first reaches 1 − IoU ≤ 0.01
# (Sudhakaran et al., "Growing 3D artefacts and functional machines with neural cellular automata", ALIFE 2021).
PUBLISHED_GROWTH: dict[str, dict[str, float]] = {"voxel_growth": {"first_train_iou_error_below_0.01": 1319}, "emoji_growth": {}}
ARC1D_NCA_MEAN = 60.12  # CAX Table 2, NCA mean over the 18 tasks (GPT-4: 41.56)
ARC1D_SOLVED = ("1d_move_1p", "1d_move_2p", "1d_move_3p", "1d_denoising_1c", "1d_pcopy_1c", "1d_pcopy_mc")
ARC1D_RECOLOR = ("1d_recolor_oe", "1d_recolor_cnt", "1d_recolor_cmp")
SOURCES = {
    "mnist1d": "Greydanus & Kobak, ICML 2024 (test accuracy, %)",
    "self_classify": "Randazzo et al., Distill 2020, Experiment 2 (MNIST, < 25 K parameters)",
    "arc1d": "Faldor & Cully, CAX, ICLR 2025, Table 2 (exact match on the test pair, % of problems)",
    "voxel_growth": "Sudhakaran et al., ALIFE 2021 (1 − IoU of occupancy, training step at which it first reaches 0.01)",
    "emoji_growth": "Mordvintsev et al., Distill 2020, Growing NCA Experiment 3 (growth, persistence, regeneration)",
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
    from aa_core.run import t_interval

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
    require("report", PICTURES, NO_PICTURES)
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
    require("report", PICTURES, NO_PICTURES)
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


def voxel_png(path: Path, shape: tuple[int, int, int], classes: int, panels: dict[str, Any]) -> None:
    """Voxel structures side by side: ``panels`` maps a title to a class per cell ``[N]`` (0 = air, not drawn)."""
    require("report", PICTURES, NO_PICTURES)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    colours = plt.get_cmap("tab10")
    fig = plt.figure(figsize=(4 * len(panels), 4))
    for i, (title, cls) in enumerate(panels.items()):
        ax = fig.add_subplot(1, len(panels), i + 1, projection="3d")
        grid = cls.cpu().view(shape).numpy()
        face = np.empty(grid.shape, dtype=object)
        for c in range(1, classes):
            face[grid == c] = matplotlib.colors.to_hex(colours(c % 10))
        # Minecraft's y is up: draw (x, z, y)
        ax.voxels((grid != 0).transpose(0, 2, 1), facecolors=face.transpose(0, 2, 1), edgecolor="k", linewidth=0.2)
        ax.set_title(title, fontsize=9)
        ax.set_axis_off()
        ax.set_box_aspect(np.array(grid.shape)[[0, 2, 1]])
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=90, bbox_inches="tight", format="png")
    plt.close(fig)


def emoji_strip(images: list[Any], path_png: Path, path_gif: Path, scale: int = 3) -> None:
    """RGB frames ``[H, W, 3]`` (uint8) as one PNG strip and an animated GIF, enlarged ``scale`` times."""
    require("emoji", PICTURES, NO_PICTURES)
    from PIL import Image

    imgs = [Image.fromarray(a).resize((a.shape[1] * scale, a.shape[0] * scale), Image.Resampling.NEAREST) for a in images]
    strip = Image.new("RGB", (sum(i.width for i in imgs), imgs[0].height), "white")
    x = 0
    for im in imgs:
        strip.paste(im, (x, 0))
        x += im.width
    with atomic_path(path_png) as tmp:
        strip.save(tmp, format="PNG")
    with atomic_path(path_gif) as tmp:
        imgs[0].save(tmp, format="GIF", save_all=True, append_images=imgs[1:], duration=120, loop=0)


# ---- per task ------------------------------------------------------------------------------------
def _pct(x: float) -> float:
    return round(100.0 * float(x), 2)


def mnist1d_report(spec: Any, test: dict[str, Any]) -> dict[str, Any]:
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


def digits_report(model: Any, dataset: Any, spec: Any, out: Path, cfg: Any, test: dict[str, Any]) -> dict[str, Any]:
    import torch

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


def arc1d_report(dataset: Any, out: Path, cfg: Any, test: dict[str, Any]) -> dict[str, Any]:
    task = dataset.config.task
    pictures = []
    if cfg.pictures and test["examples"]:
        arc_grids_png(out / "arc1d_grids.png", test["examples"][: cfg.examples])
        pictures.append("arc1d_grids.png")
    return {"task": "arc1d", "arc_task": task, "fold": dataset.config.fold, "source": SOURCES["arc1d"],
            "ours": {"exact_match": _pct(test["test_exact_match"]), "problems": test["problems"]},
            "published": {task: PUBLISHED["arc1d"].get(task)}, "pictures": pictures, "verdict": None}


def first_step_below(rows: list[dict[str, Any]], key: str, threshold: float) -> int | None:
    """The first logged step whose ``key`` is ≤ ``threshold`` (None: never, or not logged)."""
    return next((int(r["step"]) for r in rows if isinstance(r.get(key), (int, float)) and r[key] <= threshold), None)


def growth_pictures(model: Any, dataset: Any, objective: Any, out: Path) -> list[str]:
    """The test's states pictured: the voxel target, grown, damaged and regrown; the emoji growing step by
    step then damaged and regrown, and target / grown / persisted / damaged / regrown (PNG strips and GIFs)."""
    from aa_nca.growth import growth_model

    states = objective.trial(model, dataset)
    T = growth_model(model).eval_steps
    regrow = objective.config.regrow_steps or T
    if dataset.name == "voxel_growth":
        panels = {"target": dataset.classes.flatten(), f"grown ({T} steps)": dataset.predicted(states["grown"])[0],
                  "damaged": dataset.predicted(states["damaged"])[0], f"regrown (+{regrow} steps)": dataset.predicted(states["regrown"])[0]}
        voxel_png(out / "voxel_growth.png", dataset.shape, dataset.num_classes, panels)
        return ["voxel_growth.png"]
    frames, state, chunk = [dataset.seed], dataset.seed.unsqueeze(0), 8
    for t in range(chunk, T + 1, chunk):
        state = dataset.grow_from_seed(model, chunk, start=state, seed=t)
        frames.append(state[0])
    frames += [states["damaged"][0], states["regrown"][0]]
    emoji_strip([dataset.to_image(f) for f in frames], out / "emoji_growth.png", out / "emoji_growth.gif")
    summary = [dataset.target, *(states[k][0] for k in ("grown", "persisted", "damaged", "regrown"))]
    emoji_strip([dataset.to_image(f) for f in summary], out / "emoji_summary.png", out / "emoji_summary.gif")
    return ["emoji_growth.png", "emoji_summary.png"]


def growth_report(model: Any, dataset: Any, objective: Any, out: Path, cfg: Any, test: dict[str, Any],
                  state: dict[str, Any]) -> dict[str, Any]:
    """Growth, persistence and regeneration figures of the test (and, from a per-step log, the first training
    step at which the voxel batch's 1 − IoU reached 0.01), beside the published figure."""
    task = dataset.name
    ours: dict[str, Any] = {k: round(v, 5) for k, v in test.items() if isinstance(v, float)}
    result = state.get("train_result") or {}
    if task == "voxel_growth":
        ours["first_train_iou_error_below_0.01"] = first_step_below(result.get("steps") or [], "train_iou_error", 0.01)
    pictures = growth_pictures(model, dataset, objective, out) if cfg.pictures else []
    return {"task": task, "source": SOURCES[task], "target": dataset.source, "ours": ours, "published": PUBLISHED_GROWTH[task],
            "persist_steps": objective.config.persist_steps, "pictures": pictures, "verdict": None}


def invalid_reason(out: Path, state: dict[str, Any], test: dict[str, Any]) -> str | None:
    """Why the run's test figures measure no trained model, or None: training skipped non-finite batches
    (``train.nonfinite = "skip"``: the train task's result, or ``metrics.json``'s ``skipped_batches`` and the
    test task's ``test_info``), or a test figure is NaN/inf."""
    record: dict[str, Any] = {}
    try:
        record = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):  # no metrics file (ca_report without train's output folder): the state alone
        pass
    skipped = (state.get("train_result") or {}).get("skipped_batches") or record.get("skipped_batches") or 0
    if skipped:
        return f"training skipped {skipped} non-finite batches (train.nonfinite = \"skip\"): the model diverged"
    info = record.get("test_info") or {}
    if info.get("valid") is False:
        return str(info.get("why_invalid") or "the test task marked its figures invalid")
    bad = sorted(k for k, v in test.items() if isinstance(v, float) and not math.isfinite(v))
    if bad:
        return f"non-finite test figures ({', '.join(bad)}): the model diverged"
    return None


def markdown(report: dict[str, Any]) -> str:
    lines = [f"# {report['task']}: ours beside the published figures", "", f"Source: {report['source']}.", ""]
    if report.get("valid") is False:
        lines += [f"**INVALID**: {report['why_invalid']}; the figures below do not measure a trained model.", ""]
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


def _objective(spec: Any, state: dict[str, Any]) -> Any:
    """The run's objective (left by ``train``), else the one the spec names."""
    if state.get("objective") is not None:
        return state["objective"]
    from aa_core.run import BuildContext

    return (state.get("ctx") or BuildContext(spec)).build("objective")


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
    if name not in ("mnist1d", "digits", "arc1d", "voxel_growth", "emoji_growth"):
        raise UserError(f"{spec.source}: ca_report reports the datasets mnist1d, digits, arc1d, voxel_growth and emoji_growth, not {name!r}")
    if cfg.pictures and name != "mnist1d":  # before the test figures are computed: a missing extra fails at once
        require("emoji" if name == "emoji_growth" else "report", PICTURES, NO_PICTURES)
    out = Path(spec.sections["run"].output_dir) / state.get("run_id", "report")
    out.mkdir(parents=True, exist_ok=True)
    objective = _objective(spec, state)
    test = state.get("test_metrics") or objective.test_metrics(model, dataset)  # the test task's figures when it ran first
    if name == "mnist1d":
        report = mnist1d_report(spec, test)
    elif name == "digits":
        report = digits_report(model, dataset, spec, out, cfg, test)
    elif name == "arc1d":
        report = arc1d_report(dataset, out, cfg, test)
    else:
        report = growth_report(model, dataset, objective, out, cfg, test, state)
    report["run_id"] = state.get("run_id")
    report["dataset_hash"] = dataset.hash
    why = invalid_reason(out, state, test)
    report["valid"] = why is None
    if why is not None:
        report["why_invalid"] = why
        report["verdict"] = "invalid: no comparison with the published figures"
    report = finite_only(report)  # strict JSON: a NaN figure is null
    write_json(out / "report.json", report)
    write_text(out / "report.md", markdown(report))
    print(f"ca_report: {out / 'report.md'}{'' if why is None else ' — INVALID: ' + why}", flush=True)
    state["ca_report"] = report
    return report


# ---- training curves of growth runs -----------------------------------------------------------------
def run_curves(run: Path) -> dict[str, Any]:
    """A run folder's per-step training 1 − IoU (``steps.jsonl``) and validation 1 − IoU per round
    (``metrics.json`` history; a round's step from the checkpoint's ``eval_every``, the last one cut at
    the last logged step when a time budget ended it)."""
    metrics = json.loads((run / "metrics.json").read_text(encoding="utf-8"))
    steps_file = run / "steps.jsonl"
    rows = [json.loads(line) for line in steps_file.read_text(encoding="utf-8").splitlines() if line.strip()] if steps_file.is_file() else []
    history = metrics.get("history") or []
    last = max([int(r["step"]) for r in rows] or [0])
    every = None
    try:
        from aa_core.run import read_metadata

        train = read_metadata(metrics["checkpoint"]).get("hyper_parameters") or {}
        every = int(train["eval_every"]) if train.get("steps") else None
    except Exception:  # the checkpoint was moved or pruned, or trained by epochs: rounds spread over the logged steps
        pass

    def step_of(epoch: int) -> int:
        if every:
            return min(epoch * every, last) if last else epoch * every
        return round(epoch * last / len(history)) if last else epoch

    val = [(step_of(int(h["epoch"])), h["val_iou_error"]) for h in history if isinstance(h.get("val_iou_error"), (int, float))]
    train_rows = [(int(r["step"]), r["train_iou_error"]) for r in rows if isinstance(r.get("train_iou_error"), (int, float))]
    return {"name": run.name, "train": train_rows, "validation": val, "steps": max(last, max([s for s, _ in val] or [0]))}


def curves(runs: list[Path], out: Path, published: Path | None = None) -> None:
    """A PNG of 1 − IoU per training step: each run's training batch (before the pool write-back) and
    validation grown from the seed, and the authors' published log (``*_iou_loss_log.csv``: wall time,
    step, value) when given, over the runs' steps."""
    require("report", "python -m aa_ca.report --curves")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4))
    if published is not None and published.exists():
        rows = [ln.split(",") for ln in published.read_text().splitlines()[1:] if ln.strip()]
        ax.plot([int(float(r[1])) for r in rows], [float(r[2]) for r in rows], color="k", lw=1, label="published (training batch)")
    last = 0
    for i, run in enumerate(runs):
        c = run_curves(run)
        colour = plt.get_cmap("tab10")(i % 10)
        last = max(last, c["steps"])
        if c["train"]:
            ax.plot(*zip(*c["train"]), color=colour, lw=0.6, alpha=0.6, label=f"{c['name']}: training batch")
        if c["validation"]:
            ax.plot(*zip(*c["validation"]), "o-", color=colour, ms=2, lw=1, label=f"{c['name']}: grown from the seed")
    ax.axhline(0.01, color="grey", ls=":", lw=1)
    ax.set_xlim(0, 1.05 * max(last, 1))
    ax.set_yscale("log")
    ax.set_ylim(1e-3, 1.2)
    ax.set_xlabel("training step")
    ax.set_ylabel("1 − IoU of occupancy")
    ax.legend(fontsize=7, ncol=2)
    with atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=100, bbox_inches="tight", format="png")
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m aa_ca.report",
                                 description="Plot growth runs' 1 − IoU per training step against the published log "
                                             "(runs trained with [train] log_every for the training batch's curve).")
    ap.add_argument("--curves", type=Path, required=True, metavar="OUT.png")
    ap.add_argument("--published", type=Path, metavar="CSV", help="the authors' log, e.g. caterpillar_iou_loss_log.csv")
    ap.add_argument("runs", nargs="+", type=Path, metavar="RUN_DIR", help="runs/<run-id> folders (metrics.json, steps.jsonl)")
    a = ap.parse_args(argv)
    missing = [str(r) for r in a.runs if not (r / "metrics.json").is_file()]
    if missing:
        ap.error(f"no metrics.json in {', '.join(missing)}: give runs/<run-id> folders of finished runs")
    curves(a.runs, a.curves, a.published)
    print(f"curves: {a.curves}", flush=True)


if __name__ == "__main__":
    main()
