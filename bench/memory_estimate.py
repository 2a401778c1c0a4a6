"""The training memory estimate of `aa check` / `aa run` against the measured peak RSS of real runs.

For each case (cell, lattice side, channels, hidden width, batch) this writes a spec like the
quick start's (learned linear faces, direct_embedding, phrase bank) on a side³ lattice, takes
the estimate `aa run` would compare with the memory available (the ``train`` task's figure), then
runs `aa run SPEC` in a fresh process (tasks = train, one epoch, a few batches of the bundled
data, one thread, under ``nice``) and reads that process's peak RSS from ``wait4`` (ru_maxrss).
A watchdog kills a run whose RSS passes ``--cap-gib`` (the case is then reported as over the cap).
Cases run one at a time; the teacher embeddings are cached between them.

Run: python bench/memory_estimate.py [--quick] [--cases mlp:16:16:64:8,...] [--cap-gib 8].
The last line is one JSON object: per case estimated and measured bytes and their ratio.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "examples" / "data" / "ml_qa.jsonl"

# cell:side:channels:hidden:batch[:steps, default 4] — sizes and batches chosen so no run passes ~8 GiB.
FULL = [
    "mlp:16:16:64:16", "gmlp:16:16:64:16",
    "mlp:32:16:64:8", "gmlp:32:16:64:4",
    "mlp:40:16:64:8", "gmlp:40:16:64:8",
    "mlp:60:8:32:2", "gmlp:60:8:32:2",
]
QUICK = ["mlp:16:16:64:16", "gmlp:16:16:64:16", "gmlp:24:8:32:8"]


def spec_text(cell: str, side: int, channels: int, hidden: int, batch: int, steps: int, work: Path, cache: Path) -> str:
    limit = math.ceil(2 * batch / 0.8) + 4  # at least two training batches and a validation question
    return f"""description = "memory estimate case"
[geometry]
name = "lattice"
size = [{side}, {side}, {side}]
neighbourhood = 26
input_face = "z0"
output_face = "z1"
[cell]
name = "{cell}"
channels = {channels}
hidden = {hidden}
zero_init = true
[propagator]
name = "nca"
steps = 4
[tokenizer]
name = "teacher"
cache_dir = "{cache}"
[adapter]
name = "learned_linear"
[decoder]
name = "phrase_bank"
[pipeline]
name = "direct_embedding"
residual = true
[data]
path = "{DATA}"
limit = {limit}
[train]
epochs = 1
batch_size = {batch}
contrastive_weight = 0.5
threads = 1
[run]
tasks = ["train"]
output_dir = "{work / 'runs'}"
checkpoint_dir = "{work / 'checkpoints'}"
progress = false
"""


def estimate(spec_path: Path) -> int:
    """The figure `aa run` compares with the memory available before training."""
    from aa_core.spec import load_spec
    from aa_core.tasks._preflight import memory_estimates

    return memory_estimates(load_spec(spec_path), ["train"])["train"]


def measure(spec_path: Path, cap: int, cwd: Path) -> tuple[int, float, bool, str]:
    """(peak RSS bytes, wall seconds, killed over the cap, output tail) of `aa run SPEC` in a fresh process."""
    aa = shutil.which("aa") or str(Path(sys.executable).with_name("aa"))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    t0 = time.perf_counter()
    proc = subprocess.Popen(["nice", "-n", "10", aa, "run", str(spec_path), "--force"], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    killed = threading.Event()

    def watch() -> None:  # the cap: poll the child's RSS (nice execs aa, so the pid is aa's)
        status = Path(f"/proc/{proc.pid}/status")
        while proc.poll() is None:
            try:
                rss = next(int(x.split()[1]) * 1024 for x in status.read_text().splitlines() if x.startswith("VmRSS:"))
            except (OSError, StopIteration):
                return
            if rss > cap:
                killed.set()
                proc.kill()
                return
            time.sleep(0.1)

    out: list[str] = []
    reader = threading.Thread(target=lambda: out.extend(proc.stdout or []), daemon=True)
    watcher = threading.Thread(target=watch, daemon=True)
    reader.start()
    watcher.start()
    _pid, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    reader.join(5)
    wall = time.perf_counter() - t0
    tail = "".join(out)[-1500:]
    if proc.returncode != 0 and not killed.is_set():
        raise SystemExit(f"aa run {spec_path} failed (exit {proc.returncode}):\n{tail}")
    return usage.ru_maxrss * 1024, wall, killed.is_set(), tail


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="three small cases (a few minutes)")
    ap.add_argument("--cases", help="comma-separated cell:side:channels:hidden:batch[:steps]")
    ap.add_argument("--cap-gib", type=float, default=8.0, help="kill a run whose RSS passes this")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = ap.parse_args()
    cases = args.cases.split(",") if args.cases else QUICK if args.quick else FULL
    work = Path(tempfile.mkdtemp(prefix="aa-memory-"))
    cache = work / "teacher-cache"
    rows = []
    try:
        for case in cases:
            cell, side, channels, hidden, batch, *rest = case.split(":")
            steps = int(rest[0]) if rest else 4
            d = work / case.replace(":", "_")
            d.mkdir()
            spec = d / "spec.toml"
            spec.write_text(spec_text(cell, int(side), int(channels), int(hidden), int(batch), steps, d, cache))
            est = estimate(spec)
            peak, wall, killed, _tail = measure(spec, int(args.cap_gib * 2**30), d)
            ratio = est / peak
            rows.append({"case": case, "cell": cell, "side": int(side), "channels": int(channels), "hidden": int(hidden),
                         "batch": int(batch), "steps": steps, "estimate": est, "measured": peak, "ratio": round(ratio, 3),
                         "over_cap": killed, "wall_s": round(wall, 1)})
            print(f"{case:>20}: estimate {est / 2**30:6.2f} GiB, measured {peak / 2**30:6.2f} GiB"
                  f"{' (killed at the cap)' if killed else ''}, ratio {ratio:.2f} ({wall:.0f} s)", flush=True)
            shutil.rmtree(d / "checkpoints", ignore_errors=True)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    ratios = [r["ratio"] for r in rows if not r["over_cap"]]
    print(json.dumps({"cases": rows, "ratio_median": statistics.median(ratios) if ratios else None,
                      "ratio_min": min(ratios, default=None), "ratio_max": max(ratios, default=None)}))


if __name__ == "__main__":
    main()
