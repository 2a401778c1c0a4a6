"""Measuring the growth tasks: a logged training run under a time budget, then growth, persistence
and regeneration of the trained model, with pictures (``python -m aa_ca.growth_study``).

``train`` runs the same optimisation as ``aa run`` on the spec (AdamW with the spec's lr and weight
decay, gradient clipping, the sample pool's ``after_step`` after every step) in its own loop so
that every step is logged — the published voxel logs are per training step (1 − IoU of the
training batch) — and so that a wall-clock budget can end it cleanly. Log and weights are
written atomically after every validation, so a killed run leaves its last complete state.
``evaluate`` reads them back and writes ``eval.json`` and the pictures.
"""
from __future__ import annotations

import argparse
import json
import math
import time
import tomllib
from pathlib import Path
from typing import Any

import numpy as np
import torch

from aa_core.plugin import atomic_path, write_json


def build(spec_path: str | Path, overrides: dict[str, Any] | None = None) -> tuple[Any, Any, dict[str, Any]]:
    """(model, dataset, raw spec) of a growth spec."""
    from aa_core.assemble import BuildContext
    from aa_core.spec import validate

    with open(spec_path, "rb") as f:
        raw = tomllib.load(f)
    for key, value in (overrides or {}).items():
        section, name = key.split(".", 1)
        raw.setdefault(section, {})[name] = value
    ctx = BuildContext(validate(raw, source=str(spec_path)))
    model = ctx.build("pipeline")
    dataset = ctx.build("dataset")
    dataset.setup(model, ctx)
    return model, dataset, raw


def first_below(log: list[dict[str, Any]], key: str, threshold: float) -> int | None:
    for row in log:
        if row.get(key) is not None and row[key] <= threshold:
            return int(row["step"])
    return None


def train(spec_path: str | Path, out: Path, steps: int, seed: int, budget_s: float, eval_every: int = 25,
          overrides: dict[str, Any] | None = None, threads: int = 1) -> dict[str, Any]:
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    model, ds, raw = build(spec_path, {**(overrides or {}), "train.seed": seed})
    tr = raw.get("train", {})
    opt = torch.optim.AdamW(model.parameters(), lr=tr.get("lr", 2e-3), weight_decay=tr.get("weight_decay", 0.0))
    clip = tr.get("grad_clip", 1.0)
    bs = tr.get("batch_size", 8)
    gen = torch.Generator().manual_seed(seed)
    out.mkdir(parents=True, exist_ok=True)
    log: list[dict[str, Any]] = []
    evals: list[dict[str, Any]] = []
    t0 = time.perf_counter()
    order, cursor = torch.randperm(len(ds.pool), generator=gen), 0
    step = 0

    def save(done: bool) -> dict[str, Any]:
        summary = {"spec": str(spec_path), "seed": seed, "steps_done": step, "steps_planned": steps, "budget_s": budget_s if math.isfinite(budget_s) else None,
                   "wall_s": time.perf_counter() - t0, "s_per_step": (time.perf_counter() - t0) / max(step, 1),
                   "threads": threads, "finished": done, "evals": evals, "log": log}
        if hasattr(ds, "iou_error"):
            summary["train_iou_measured"] = "before the pool write-back"  # older logs saw one reseeded sample per batch
            summary["first_train_iou_error_below_0.1"] = first_below(log, "train_iou_error", 0.1)
            summary["first_train_iou_error_below_0.01"] = first_below(log, "train_iou_error", 0.01)
            summary["first_val_iou_error_below_0.01"] = first_below(evals, "val_iou_error", 0.01)
        with atomic_path(out / "model.pt") as tmp:
            torch.save(model.state_dict(), tmp)
        write_json(out / "train.json", summary)
        return summary

    while step < steps and time.perf_counter() - t0 < budget_s:
        model.train()
        if cursor + bs > len(order):
            order, cursor = torch.randperm(len(ds.pool), generator=gen), 0
        idx = order[cursor : cursor + bs]
        cursor += bs
        batch = ds.batch("train", idx)
        loss = ds.training_loss(model, batch)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if clip:
            torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        opt.step()
        row = {"step": step + 1, "loss": float(loss.detach())}
        if hasattr(ds, "iou_error"):  # of the grown batch, before the pool reseeds and damages it
            row["train_iou_error"] = float(ds.iou_error(batch["final_state"]).mean())
        ds.after_step(batch, model)
        step += 1
        row["t"] = round(time.perf_counter() - t0, 2)
        log.append(row)
        if step % eval_every == 0 or step == steps:
            model.eval()
            evals.append({"step": step, **ds.validation_metrics(model)})
            print(json.dumps({**row, **evals[-1]}), flush=True)
            save(False)
    return save(step >= steps)


def _voxel_pictures(ds: Any, states: dict[str, torch.Tensor], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colours = plt.get_cmap("tab10")
    fig = plt.figure(figsize=(4 * len(states), 4))
    for i, (title, cls) in enumerate(states.items()):
        ax = fig.add_subplot(1, len(states), i + 1, projection="3d")
        grid = cls.view(ds.shape).numpy()
        filled = grid != 0
        face = np.empty(grid.shape, dtype=object)
        for c in range(1, ds.num_classes):
            face[grid == c] = matplotlib.colors.to_hex(colours(c % 10))
        # Minecraft's y is up: draw (x, z, y)
        ax.voxels(filled.transpose(0, 2, 1), facecolors=face.transpose(0, 2, 1), edgecolor="k", linewidth=0.2)
        ax.set_title(title, fontsize=9)
        ax.set_axis_off()
        ax.set_box_aspect(np.array(grid.shape)[[0, 2, 1]])
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=90, bbox_inches="tight", format="png")
    plt.close(fig)


def _emoji_pictures(ds: Any, frames: list[tuple[int, torch.Tensor]], path_png: Path, path_gif: Path) -> None:
    from PIL import Image

    imgs = [Image.fromarray(ds.to_image(s)).resize((ds.shape[0] * 3,) * 2, Image.Resampling.NEAREST) for _, s in frames]
    strip = Image.new("RGB", (sum(i.width for i in imgs), imgs[0].height), "white")
    x = 0
    for im in imgs:
        strip.paste(im, (x, 0))
        x += im.width
    with atomic_path(path_png) as tmp:
        strip.save(tmp, format="PNG")
    with atomic_path(path_gif) as tmp:
        imgs[0].save(tmp, format="GIF", save_all=True, append_images=imgs[1:], duration=120, loop=0)


def evaluate(spec_path: str | Path, run: Path, persist_steps: int = 500, regrow_steps: int | None = None,
             seeds: int = 4, threads: int = 1, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Growth from the seed, persistence, and regrowth after damage of a trained model; pictures.
    ``overrides``: the ``--set`` values the model was trained with (shapes must match)."""
    torch.set_num_threads(threads)
    model, ds, _ = build(spec_path, overrides)
    model.load_state_dict(torch.load(run / "model.pt"))
    model.eval()
    T = model.eval_steps
    regrow = regrow_steps or T
    res: dict[str, Any] = {"eval_steps": T, "regrow_steps": regrow, "samples": seeds}
    grown = ds.grow_from_seed(model, T, batch=seeds)
    if hasattr(ds, "iou_error"):
        res["grown_iou_error"] = [round(float(v), 4) for v in ds.iou_error(grown)]
        centre = ds.occupied.view(ds.shape).nonzero().float().mean(0).round()
        radius = 0.3 * min(ds.shape)  # a sphere through the middle of the structure
        damaged = ds.damage_ball(grown, centre, radius)
        res["damage"] = {"centre": centre.tolist(), "radius": radius,
                         "cells_removed": int((ds.predicted(grown) != ds.predicted(damaged)).sum()) // seeds}
        res["damaged_iou_error"] = [round(float(v), 4) for v in ds.iou_error(damaged)]
        regrown = ds.grow_from_seed(model, regrow, start=damaged, seed=99)
        res["regrown_iou_error"] = [round(float(v), 4) for v in ds.iou_error(regrown)]
        longer = ds.grow_from_seed(model, persist_steps, start=grown, seed=7)
        res["persist_steps"] = persist_steps
        res["persisted_iou_error"] = [round(float(v), 4) for v in ds.iou_error(longer)]
        _voxel_pictures(ds, {"target": ds.classes.flatten(), f"grown ({T} steps)": ds.predicted(grown)[0],
                             "damaged": ds.predicted(damaged)[0], f"regrown (+{regrow} steps)": ds.predicted(regrown)[0]},
                        run / "voxel_growth.png")
    else:
        mse = lambda s: [round(float(v), 5) for v in ds.sample_losses(s, ds.target.unsqueeze(0))]  # noqa: E731
        res["grown_mse"] = mse(grown)
        frames, state = [(0, ds.seed)], ds.seed.unsqueeze(0)
        chunk = 8
        for t in range(chunk, T + 1, chunk):
            state = ds.grow_from_seed(model, chunk, start=state, seed=t)
            frames.append((t, state[0]))
        curve, s = [], grown
        for t in range(0, persist_steps + 1, 50):
            if t:
                s = ds.grow_from_seed(model, 50, start=s, seed=1000 + t)
            curve.append({"steps_after_growth": t, "mse": mse(s)})
        res["persistence"] = curve
        G = ds.shape[0]
        damaged = ds.damage_ball(grown, torch.tensor([G / 2 + 6, G / 2 - 6, 0.0]), 0.25 * G)
        res["damaged_mse"] = mse(damaged)
        regrown = ds.grow_from_seed(model, regrow, start=damaged, seed=99)
        res["regrown_mse"] = mse(regrown)
        frames += [(T + 1, damaged[0]), (T + 1 + regrow, regrown[0])]
        _emoji_pictures(ds, frames, run / "emoji_growth.png", run / "emoji_growth.gif")
        _emoji_pictures(ds, [(0, ds.target), (T, grown[0]), (T + persist_steps, s[0]), (0, damaged[0]), (0, regrown[0])],
                        run / "emoji_summary.png", run / "emoji_summary.gif")
    write_json(run / "eval.json", res)
    return res


def _mean(values: list[float] | None) -> str:
    return "–" if not values else f"{sum(values) / len(values):.3f}"


def summary(runs: list[Path]) -> str:
    """A Markdown table of finished runs (``train.json`` + ``eval.json`` in each folder)."""
    rows = []
    for run in runs:
        t = json.loads((run / "train.json").read_text())
        e = json.loads((run / "eval.json").read_text()) if (run / "eval.json").exists() else {}
        last = t["evals"][-1] if t["evals"] else {}
        if "grown_iou_error" in e or "first_val_iou_error_below_0.01" in t:
            cells = [str(t.get("first_val_iou_error_below_0.01") or "not reached"),
                     str(t.get("first_train_iou_error_below_0.01") or "not reached"),
                     f"{last.get('val_iou_error', float('nan')):.3f}", _mean(e.get("grown_iou_error")),
                     _mean(e.get("persisted_iou_error")), _mean(e.get("damaged_iou_error")), _mean(e.get("regrown_iou_error"))]
        else:
            curve = e.get("persistence") or []
            cells = [f"{last.get('val_mse', float('nan')):.4f}", _mean(e.get("grown_mse")),
                     _mean(curve[-1]["mse"]) if curve else "–", _mean(e.get("damaged_mse")), _mean(e.get("regrown_mse"))]
        rows.append(f"| {run.name} | {t['seed']} | {t['steps_done']} | {t['s_per_step']:.2f} | " + " | ".join(cells) + " |")
    voxel = runs and "first_val_iou_error_below_0.01" in json.loads((runs[0] / "train.json").read_text())
    head = (["first step val 1 − IoU ≤ 0.01", "first step train batch ≤ 0.01", "last val 1 − IoU", "grown (4 samples)",
             "after 500 more steps", "damaged", "regrown"] if voxel else
            ["last val MSE", "grown MSE", "MSE 500 steps later", "damaged MSE", "regrown MSE"])
    cols = ["run", "seed", "steps", "s / step", *head]
    return "\n".join([f"| {' | '.join(cols)} |", "|" + "---|" * len(cols), *rows])


def curves(runs: list[Path], out: Path, published: Path | None = None) -> None:
    """A PNG of 1 − IoU per training step: each run's training batch (runs whose log measured it
    before the pool write-back) and validation, and the authors' published log
    (``*_iou_loss_log.csv``: wall time, step, value) when given, over the runs' steps."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4))
    last = 0
    if published is not None and published.exists():
        rows = [ln.split(",") for ln in published.read_text().splitlines()[1:] if ln.strip()]
        ax.plot([int(r[1]) for r in rows], [float(r[2]) for r in rows], color="k", lw=1, label="published (training batch)")
    for i, run in enumerate(runs):
        t = json.loads((run / "train.json").read_text())
        colour = plt.get_cmap("tab10")(i % 10)
        log = [r for r in t["log"] if "train_iou_error" in r] if t.get("train_iou_measured") else []
        last = max(last, t["steps_done"])
        if log:
            ax.plot([r["step"] for r in log], [r["train_iou_error"] for r in log], color=colour, lw=0.6, alpha=0.6,
                    label=f"{run.name}: training batch")
        ax.plot([e["step"] for e in t["evals"]], [e["val_iou_error"] for e in t["evals"]], "o-", color=colour, ms=2, lw=1,
                label=f"{run.name}: grown from the seed")
    ax.axhline(0.01, color="grey", ls=":", lw=1)
    ax.set_xlim(0, 1.05 * last)
    ax.set_yscale("log")
    ax.set_ylim(1e-3, 1.2)
    ax.set_xlabel("training step")
    ax.set_ylabel("1 − IoU of occupancy")
    ax.legend(fontsize=7, ncol=2)
    with atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=100, bbox_inches="tight", format="png")
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    if argv is None:
        import sys

        argv = sys.argv[1:]
    if argv[:1] == ["--summary"]:
        sp = argparse.ArgumentParser(prog="python -m aa_ca.growth_study --summary",
                                     description="Print a Markdown table of finished runs.")
        sp.add_argument("runs", nargs="+", type=Path, metavar="RUN")
        print(summary(sp.parse_args(argv[1:]).runs))
        return
    if argv[:1] == ["--curves"]:
        cp = argparse.ArgumentParser(prog="python -m aa_ca.growth_study --curves",
                                     description="Plot the runs' 1 − IoU against the published log.")
        cp.add_argument("out", type=Path, metavar="OUT.png")
        cp.add_argument("--published", type=Path, metavar="CSV")
        cp.add_argument("runs", nargs="+", type=Path, metavar="RUN")
        c = cp.parse_args(argv[1:])
        curves(c.runs, c.out, c.published)
        return
    ap = argparse.ArgumentParser(description=__doc__ + "\n`--summary RUN...` prints a Markdown table of finished runs; "
                                 "`--curves OUT.png [--published CSV] RUN...` plots their 1 − IoU against the published log.")
    ap.add_argument("spec")
    ap.add_argument("out", type=Path)
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--budget-s", type=float, default=math.inf)
    ap.add_argument("--eval-every", type=int, default=25)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--set", action="append", default=[], help="section.key=VALUE (read as TOML, as aa run --set does)")
    ap.add_argument("--evaluate-only", action="store_true")
    a = ap.parse_args(argv)
    from aa_core.plugin import UserError
    from aa_core.spec import parse_override

    try:
        overrides = {".".join(keys): value for keys, value in map(parse_override, a.set)}
    except UserError as exc:
        ap.error(str(exc))
    if not a.evaluate_only:
        s = train(a.spec, a.out, a.steps, a.seed, a.budget_s, a.eval_every, overrides, a.threads)
        print(json.dumps({k: v for k, v in s.items() if k not in ("log", "evals")}), flush=True)
    print(json.dumps(evaluate(a.spec, a.out, threads=a.threads, overrides=overrides)), flush=True)


if __name__ == "__main__":
    main()
