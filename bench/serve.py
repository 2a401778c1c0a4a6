"""Benchmark of `aa serve` on loopback: throughput and latency at 1, 8 and 32 concurrent clients,
dynamic batching on (--max-batch 32, the default --max-wait-ms 0) against off (--max-batch 1), in the same run.

Both services run at once from the same quick-start checkpoint (trained here unless --checkpoint is
given) and are measured interleaved, round by round; figures are medians over the rounds. Each
client sends its requests one after another (httpx, async), questions cycling through the questions
of the quick-start data set (the teacher's embedding cache is off in the service, so every
question is embedded). ready_s: from starting the process to /health/ready answering 200.

Run: python bench/serve.py [--rounds 3] [--requests 160] [--checkpoint DIR]. The last line is one JSON object.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
CLIENTS = (1, 8, 32)
MODES = {"batched": ["--max-batch", "32", "--max-wait-ms", "0"], "unbatched": ["--max-batch", "1"]}


def train_checkpoint(folder: Path) -> Path:
    subprocess.run([sys.executable, "-m", "aa_core.cli", "run", "examples/quickstart.toml", "--set", f"run.checkpoint_dir={folder}",
                    "--set", f"run.output_dir={folder / 'runs'}", "--set", 'run.tasks=["train"]'], cwd=REPO, check=True,
                   stdout=subprocess.DEVNULL)
    return next(p for p in folder.iterdir() if (p / "best").is_file())


def questions() -> list[str]:
    """Every question of the quick-start data set."""
    rows = [json.loads(line) for line in (REPO / "examples/data/ml_qa.jsonl").read_text().splitlines() if line.strip()]
    return [r["question"] for r in rows]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(checkpoint: Path, extra: list[str]) -> tuple[subprocess.Popen, str, float]:
    port = free_port()
    t0 = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "aa_core.cli", "serve", "--checkpoint", str(checkpoint), "--port", str(port), *extra],
                            cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    while True:
        try:
            if httpx.get(url + "/health/ready", timeout=5).status_code == 200:
                return proc, url, time.monotonic() - t0
        except httpx.TransportError:
            pass
        if proc.poll() is not None:
            raise SystemExit(f"aa serve exited with {proc.returncode}")
        time.sleep(0.02)


async def load(url: str, clients: int, total: int, qs: list[str]) -> dict:
    """``clients`` concurrent clients share ``total`` requests; throughput and latency percentiles."""
    latencies: list[float] = []
    batch_sizes: list[int] = []
    counter = iter(range(4))  # the warm-up: 4 requests

    async def client(http: httpx.AsyncClient) -> None:
        for i in counter:
            t = time.perf_counter()
            r = await http.post("/v1/answer", json={"question": qs[i % len(qs)], "top_k": 0})
            latencies.append(time.perf_counter() - t)
            r.raise_for_status()
            batch_sizes.append(r.json()["batch_size"])

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as http:
        await asyncio.gather(*(client(http) for _ in range(min(clients, 2))))  # warm the connections
        counter = iter(range(total))
        latencies.clear()
        batch_sizes.clear()
        t0 = time.perf_counter()
        await asyncio.gather(*(client(http) for _ in range(clients)))
        wall = time.perf_counter() - t0
    lat = sorted(latencies)
    pct = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1000  # noqa: E731
    return {"throughput": len(lat) / wall, "p50_ms": pct(0.50), "p99_ms": pct(0.99), "mean_batch": statistics.mean(batch_sizes)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--requests", type=int, default=160, help="requests per measurement at 8 and 32 clients (40 at 1 client)")
    ap.add_argument("--checkpoint", type=Path, help="a quick-start checkpoint or run folder (default: train one now)")
    args = ap.parse_args()
    qs = questions()
    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = args.checkpoint or train_checkpoint(Path(tmp))
        servers, ready = {}, {}
        try:
            for mode, extra in MODES.items():  # one after the other: each start has the CPUs to itself
                proc, url, ready[mode] = start(checkpoint, extra)
                servers[mode] = (proc, url)
                print(f"{mode}: ready in {ready[mode]:.2f} s", flush=True)
            runs: dict[tuple[str, int], list[dict]] = {}
            for r in range(args.rounds):
                for c in CLIENTS:
                    for mode in (MODES if r % 2 == 0 else reversed(MODES)):
                        res = asyncio.run(load(servers[mode][1], c, args.requests if c > 1 else 40, qs))
                        runs.setdefault((mode, c), []).append(res)
                        print(f"round {r + 1} {mode:9s} c={c:2d}: {res['throughput']:6.1f} req/s, p50 {res['p50_ms']:6.1f} ms, "
                              f"p99 {res['p99_ms']:6.1f} ms, mean batch {res['mean_batch']:.1f}", flush=True)
        finally:
            codes = {}
            for mode, (proc, _) in servers.items():
                proc.send_signal(signal.SIGTERM)
                codes[mode] = proc.wait(60)
    med = {k: {f: statistics.median(x[f] for x in v) for f in v[0]} for k, v in runs.items()}
    print("\nmedians over rounds:")
    for c in CLIENTS:
        b, u = med[("batched", c)], med[("unbatched", c)]
        print(f"c={c:2d}: batched {b['throughput']:6.1f} req/s (p50 {b['p50_ms']:.1f} ms, p99 {b['p99_ms']:.1f} ms, batch {b['mean_batch']:.1f}) | "
              f"unbatched {u['throughput']:6.1f} req/s (p50 {u['p50_ms']:.1f} ms, p99 {u['p99_ms']:.1f} ms) | ratio {b['throughput'] / u['throughput']:.2f}x")
    out = {
        "batched_vs_unbatched_c32": med[("batched", 32)]["throughput"] / med[("unbatched", 32)]["throughput"],
        "batched_vs_unbatched_c8": med[("batched", 8)]["throughput"] / med[("unbatched", 8)]["throughput"],
        "p50_ms_c8": med[("batched", 8)]["p50_ms"], "p99_ms_c8": med[("batched", 8)]["p99_ms"],
        "p50_ms_c1": med[("batched", 1)]["p50_ms"], "p99_ms_c32": med[("batched", 32)]["p99_ms"],
        "throughput_c32": med[("batched", 32)]["throughput"], "throughput_c32_unbatched": med[("unbatched", 32)]["throughput"],
        "throughput_c1": med[("batched", 1)]["throughput"],
        "ready_s": statistics.median(ready.values()), "ready_s_each": ready, "shutdown_exit_codes": codes,
        "rounds": args.rounds, "requests": args.requests, "cpus": os.cpu_count(), "loadavg_1m": os.getloadavg()[0],
    }
    print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in out.items()}))


if __name__ == "__main__":
    main()
