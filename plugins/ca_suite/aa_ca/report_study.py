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
from typing import Any, Literal, TypedDict

from .report import mean_interval


class SeedSummary(TypedDict):
    """One label's ``test[key]`` over the seeds: mean, 95 % half-interval, count and the values."""
    mean: float
    half_interval: float
    n: int
    values: list[float]


def run_seed(spec_path: str, overrides: list[str], seed: int, pictures: str | None = None,
             progress: bool | Literal["lines"] | None = None, state_dir: Path | None = None) -> dict[str, Any]:
    """Train one seed, read its test metrics once; ``progress`` as :func:`aa_core.train.fit`'s (default: a bar
    on a terminal, nothing elsewhere).

    With ``state_dir`` the seed's training state is kept there (:class:`aa_ca.seed_state.SeedState`):
    an interrupted seed resumes where it stopped, a finished one returns its stored result."""
    if state_dir is None:
        return _run_seed(spec_path, overrides, seed, pictures, progress, None)
    from .seed_state import SeedState

    if pictures:
        raise ValueError("run_seed: pictures need the trained model in this process; give them without state_dir")
    state = SeedState(Path(state_dir)).open()
    try:
        done = state.finished()
        if done is not None:
            return done
        result = _run_seed(spec_path, overrides, seed, None, progress, state)
        state.finish(result)
        return result
    finally:
        state.close()


def _run_seed(spec_path: str, overrides: list[str], seed: int, pictures: str | None, progress: bool | Literal["lines"] | None,
              state: Any) -> dict[str, Any]:
    import sys

    import torch

    from aa_core.assemble import BuildContext, build_model, count_params
    from aa_core.protocols import SampledDataset
    from aa_core.spec import load_spec
    from aa_core.train import fit

    spec = load_spec(spec_path, [*overrides, f"train.seed={seed}"])
    cfg = spec.sections["train"]
    dataset = BuildContext(spec).build("dataset")
    torch.manual_seed(seed)
    model, ctx = build_model(spec)
    if hasattr(dataset, "setup"):
        dataset.setup(model, ctx)
    save, resume, cpu_before = None, None, 0.0
    if state is not None:
        resume, cpu_before = state.resume_from(model)
        save = state.saver(model, spec, dataset if isinstance(dataset, SampledDataset) else None, cpu_before)
        if resume is not None:
            print(f"seed {seed}: resuming from {resume}", flush=True)
    c0 = time.process_time()
    result = fit(model, dataset, cfg, progress=sys.stderr.isatty() if progress is None else progress, desc=f"seed {seed}",
                 save=save, resume=resume)
    cpu = cpu_before + time.process_time() - c0
    test = dataset.test_metrics(model)
    test.pop("examples", None)
    if pictures:  # the ca_report pictures of this seed's model (self-classification frames, 1D-ARC grids)
        from .classifier_config import ReportConfig
        from .report import arc1d_report, digits_report

        out = Path(pictures)
        out.mkdir(parents=True, exist_ok=True)
        kind = spec.components["dataset"][0].component.name
        if kind == "digits":
            digits_report(model, dataset, spec, out, ReportConfig())
        elif kind == "arc1d":
            arc1d_report(model, dataset, spec, out, ReportConfig(examples=5))
    return {"seed": seed, "params": count_params(model), "best": result["best"], "best_epoch": result["best_epoch"],
            "train_s": round(result["time_s"], 1),  # fit's wall time, over every sitting of a resumed seed
            "cpu_s": round(cpu, 1), "test": test}


def summarise(lines: list[dict[str, Any]], key: str) -> dict[str, SeedSummary]:
    """Per label: mean, 95 % half-interval and n of ``test[key]`` over the seeds."""
    by: dict[str, list[float]] = {}
    for row in lines:
        if key in row["test"]:
            by.setdefault(row["label"], []).append(float(row["test"][key]))
    out: dict[str, SeedSummary] = {}
    for label, values in by.items():
        m, h = mean_interval(values)
        out[label] = {"mean": m, "half_interval": h, "n": len(values), "values": values}
    return out


def paired_by_seed(lines: list[dict[str, Any]], label: str, reference: str, key: str) -> dict[str, Any] | None:
    """``label`` − ``reference`` on ``test[key]``, paired by training seed: mean, 95 % t interval over the
    seeds both ran, and the verdict (higher / lower / no difference detected)."""
    from aa_core.stats import t_interval, verdict

    a = {r["seed"]: float(r["test"][key]) for r in lines if r["label"] == label and key in r["test"]}
    b = {r["seed"]: float(r["test"][key]) for r in lines if r["label"] == reference and key in r["test"]}
    seeds = sorted(a.keys() & b.keys())
    if len(seeds) < 2:
        return None
    m, lo, hi = t_interval([a[s] - b[s] for s in seeds])
    return {"mean": m, "lo": lo, "hi": hi, "n": len(seeds), "verdict": verdict(lo, hi)}


def _fmt(stats: SeedSummary | None, scale: float = 100.0) -> str:
    if not stats:
        return "not run"
    m, h, n = stats["mean"] * scale, stats["half_interval"] * scale, stats["n"]
    return f"{m:.1f}" if n == 1 else f"{m:.1f} ± {h:.1f} (n={n})"


def markdown_tables(lines: list[dict[str, Any]]) -> str:
    """The three tasks' tables (ours beside the published figures) from the study's JSON lines."""
    from .report import ARC1D_NCA_MEAN, PUBLISHED, arc1d_verdict

    out = []
    acc = summarise(lines, "test_accuracy")
    params = {row["label"]: row["params"] for row in lines}
    out += ["| MNIST-1D model | parameters | test accuracy, ours (%) | published (%) |", "|---|---|---|---|"]
    for label, pub in [("mnist1d_mlp", PUBLISHED["mnist1d"]["mlp"]), ("mnist1d_cnn", PUBLISHED["mnist1d"]["cnn"]),
                       ("mnist1d_lattice_line", None), ("mnist1d_lattice_snake", None), ("mnist1d_lattice_line_mamba", None),
                       ("mnist1d_mlp_shuffled", PUBLISHED["mnist1d_shuffled"]["mlp"]), ("mnist1d_cnn_shuffled", PUBLISHED["mnist1d_shuffled"]["cnn"]),
                       ("mnist1d_lattice_line_shuffled", None), ("mnist1d_lattice_snake_shuffled", None),
                       ("mnist1d_lattice_line_mamba_shuffled", None)]:
        out.append(f"| {label} | {params.get(label, '–')} | {_fmt(acc.get(label))} | {pub if pub is not None else '–'} |")
    pairs = [("mnist1d_lattice_line", "mnist1d_mlp"), ("mnist1d_lattice_line", "mnist1d_cnn"), ("mnist1d_lattice_snake", "mnist1d_mlp"),
             ("mnist1d_lattice_line_shuffled", "mnist1d_mlp_shuffled"), ("mnist1d_lattice_line_shuffled", "mnist1d_cnn_shuffled"),
             ("mnist1d_lattice_snake_shuffled", "mnist1d_mlp_shuffled"),
             ("mnist1d_lattice_line_mamba", "mnist1d_lattice_line"), ("mnist1d_lattice_line_mamba_shuffled", "mnist1d_lattice_line_shuffled"),
             ("mnist1d_lattice_line_mamba_shuffled", "mnist1d_mlp_shuffled")]
    paired = [(lab, ref, paired_by_seed(lines, lab, ref, "test_accuracy")) for lab, ref in pairs]
    if any(p for _, _, p in paired):
        out += ["", "| MNIST-1D, paired by seed | seeds | accuracy difference (points) [95 % t] | verdict |", "|---|---|---|---|"]
        for lab, ref, p in paired:
            if p:
                out.append(f"| {lab} − {ref} | {p['n']} | {100 * p['mean']:+.1f} [{100 * p['lo']:+.1f}, {100 * p['hi']:+.1f}] | {p['verdict']} |")
    cell, agree = summarise(lines, "test_cell_accuracy"), summarise(lines, "test_agreement")
    out += ["", "| self-classifying digits, loss | cell accuracy at step 200 (%) | total agreement at step 200 (%) | peak cell accuracy (%) at step | published (MNIST) |",
            "|---|---|---|---|---|"]
    pub_sc = {"digits_l2_noise": "95.3 / 88.1", "digits_ce": "peaks 96.2 at step 80, then decays", "digits_l2": "below L2 + noise"}
    digit_labels = list(dict.fromkeys(row["label"] for row in lines if row["label"].startswith("digits_")))
    for label in digit_labels or list(pub_sc):  # every digits label, in the order the study ran them
        peaks = [(max(c), 1 + c.index(max(c))) for row in lines if row["label"] == label
                 for c in [row["test"].get("curves", {}).get("cell_accuracy", [])] if c]
        peak = "; ".join(f"{100 * a:.1f} at {t}" for a, t in peaks) or "–"
        base = next((k for k in pub_sc if label.startswith(k)), None)  # digits_l2_noise_10000 → digits_l2_noise
        out.append(f"| {label} | {_fmt(cell.get(label))} | {_fmt(agree.get(label))} | {peak} | {pub_sc[base] if base else '–'} |")
    exact = summarise(lines, "test_exact_match")
    out += ["", "| 1D-ARC task | exact match, ours (%) | CAX NCA (%) |", "|---|---|---|"]
    ours: dict[str, float] = {}
    for task, pub in PUBLISHED["arc1d"].items():
        st = exact.get(f"arc1d_{task}")
        if st:
            ours[task] = 100 * st["mean"]
        out.append(f"| {task} | {_fmt(st)} | {pub:g} |")
    mean = sum(ours.values()) / len(ours) if ours else float("nan")
    out.append(f"| mean over the tasks run ({len(ours)}) | {mean:.1f} | {ARC1D_NCA_MEAN} (18 tasks) |")
    out += ["", f"Verdict (six solved tasks ≥ 96 %, recolor ≤ 10 %): {arc1d_verdict(ours)}."]
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--summary", help="print the Markdown tables of a study's JSON lines file and exit")
    ap.add_argument("--spec")
    ap.add_argument("--label")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--set", action="append", default=[], dest="overrides")
    ap.add_argument("--out")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--pictures", help="a folder for the report pictures of each seed's model")
    args = ap.parse_args(argv)
    if args.summary:
        print(markdown_tables([json.loads(x) for x in Path(args.summary).read_text().splitlines() if x.strip()]))
        return
    if not (args.spec and args.label and args.out):
        ap.error("--spec, --label and --out are required to run a study")
    import torch

    torch.set_num_threads(args.threads)
    for seed in [int(s) for s in args.seeds.split(",")]:
        row = {"label": args.label, "spec": args.spec, "overrides": args.overrides, **run_seed(args.spec, args.overrides, seed, args.pictures)}
        with open(Path(args.out), "a") as f:  # one complete line per seed (appended: the study grows run by run)
            f.write(json.dumps(row) + "\n")
        print(json.dumps({k: row[k] for k in ("label", "seed", "params", "best", "train_s", "cpu_s")} | {"test": {k: v for k, v in row["test"].items() if k != "curves"}}), flush=True)


if __name__ == "__main__":
    main()
