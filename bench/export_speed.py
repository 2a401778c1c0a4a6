"""Steps per second of an exported 48×48 emoji Growing-NCA model: onnxruntime (CPU, Python), the browser
(headless Chromium, onnxruntime-web's wasm build, one thread) and AA's own eager step (PyTorch, one thread).

The model is examples/ca/emoji_growth.toml (48×48×1, 16 channels, 48 → 128 → 16, fire rate 0.5, alive
masking), trained briefly here (--train-steps, default 50: speed does not depend on how well it grows) or
given with --checkpoint. Every rate is one step on one lattice (batch 1) with a fresh stochastic fire mask,
from the state grown for the pipeline's eval_steps from the seed:

- ``onnx_steps_per_s``: the exported graph in onnxruntime's Python API, 1 intra-op thread (masks made beforehand);
- ``browser_steps_per_s``: the same graph in the page of ``aa export --format html`` opened from file://,
  ``aaLive.bench(n)`` (steps only, no drawing; the page's MT19937 masks included), and
  ``browser_drawn_steps_per_s``: the page playing at 32 steps per frame, drawing every frame;
- ``aa_steps_per_s``: the ``nca`` propagator's ``step_grid`` in training mode (its random fire mask, the masked
  update of only the cells that fire near living ones: how AA grows a pattern), ``torch.set_num_threads(1)``.

Run: python bench/export_speed.py [--checkpoint DIR] [--seconds S]. Needs the emoji font to train, and Debian's
chromium + chromium-driver for the browser figure (null without them). The last line is one JSON object.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
SPEC = REPO / "examples" / "ca" / "emoji_growth.toml"


def rate(fn, seconds: float, steps: int) -> float:
    """Median steps/s of ``fn()`` (which runs ``steps`` steps) over repeats filling about ``seconds``."""
    fn()  # warm-up
    rates, start = [], time.perf_counter()
    while not rates or time.perf_counter() - start < seconds:
        t = time.perf_counter()
        fn()
        rates.append(steps / (time.perf_counter() - t))
    return statistics.median(rates)


def train(folder: Path, steps: int) -> Path:
    r = subprocess.run([sys.executable, "-m", "aa_core.cli", "run", str(SPEC), "--set", f"train.steps={steps}", "--set", f"train.eval_every={steps}",
                        "--set", "train.batch_size=4", "--set", "dataset.pool_size=32", "--set", f"run.checkpoint_dir={folder}",
                        "--set", f"run.output_dir={folder / 'runs'}", "--set", 'run.tasks=["train"]', "--set", "train.threads=1"],
                       cwd=REPO, capture_output=True, text=True, timeout=3600)
    if r.returncode:
        raise SystemExit(f"training the emoji model failed:\n{r.stderr[-3000:]}")
    (run,) = [p for p in folder.iterdir() if p.is_dir() and p.name != "runs"]
    return run


def browser_rates(html: Path, seconds: float) -> tuple[float | None, float | None, str]:
    chromium, driver_path = shutil.which("chromium") or shutil.which("chromium-browser"), shutil.which("chromedriver")
    if not (chromium and driver_path):
        return None, None, "no chromium/chromedriver"
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium  # type: ignore[assignment]
    with tempfile.TemporaryDirectory() as profile:
        for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--no-first-run", f"--user-data-dir={profile}"):
            options.add_argument(arg)
        driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
        driver.set_script_timeout(600)
        try:
            driver.get(html.as_uri() + "?seed=0&autoplay=0")
            end = time.monotonic() + 120
            while not driver.execute_script("return window.aaLive && (aaLive.ready || aaLive.error)") and time.monotonic() < end:
                time.sleep(0.2)
            if driver.execute_script("return aaLive.error"):
                return None, None, str(driver.execute_script("return aaLive.error"))
            version = driver.capabilities.get("browserVersion", "?")
            bench = [driver.execute_async_script("aaLive.bench(arguments[0]).then(arguments[1])", 300) for _ in range(max(3, int(seconds / 2)))]
            driver.execute_script("document.getElementById('speed').value = '32'; document.getElementById('speed').onchange(); aaLive.play()")
            time.sleep(1.5)
            drawn = []
            for _ in range(max(3, int(seconds))):
                time.sleep(1.0)
                drawn.append(driver.execute_script("return aaLive.stepsPerSecond"))
            driver.execute_script("aaLive.pause()")
            return statistics.median(bench), statistics.median(drawn), f"Chromium {version}"
        finally:
            driver.quit()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", help="an emoji_growth checkpoint or run folder (default: train one here)")
    ap.add_argument("--train-steps", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=5.0, help="time per measurement")
    args = ap.parse_args()
    torch.set_num_threads(1)
    from aa_export.onnx_step import export, session
    from aa_export.page import html_file
    from aa_export.step import aa_steps, fire_masks, load

    with tempfile.TemporaryDirectory() as tmp:
        ckpt = Path(args.checkpoint) if args.checkpoint else train(Path(tmp) / "ckpt", args.train_steps)
        exp = load(ckpt)
        onnx, diff = export(exp, 16)
        steps = int(getattr(exp.pipeline, "eval_steps", 96) or 96)
        grown = aa_steps(exp, exp.seed(), steps, seed=0)[-1]
        alive = float((grown[..., 3] > 0.1).float().mean())

        n = 100
        sess = session(onnx, threads=1)
        masks = [m.numpy() for m in fire_masks(exp.shape, exp.fire_rate, n, seed=1)]
        start = grown.numpy()

        def onnx_run() -> None:
            x = start
            for m in masks:
                x = sess.run(["next"], {"state": x, "fire": m})[0]

        prop = exp.propagator

        def aa_run() -> None:
            g = grown.clone()
            with torch.no_grad():
                for _ in range(n):
                    g = prop.step_grid(g)

        onnx_rate = rate(onnx_run, args.seconds, n)
        was = prop.training
        prop.training = True  # its stochastic fire mask (the cell stays in eval)
        try:
            aa_rate = rate(aa_run, args.seconds, n)
        finally:
            prop.training = was
        html = Path(tmp) / "emoji.html"
        html.write_text(html_file(exp.description(), onnx), encoding="utf-8")
        browser, drawn, browser_name = browser_rates(html, args.seconds)

    X, Y, Z = exp.shape
    print(f"exported step equal to AA's within {diff:.2g} (16 steps); grown state: {alive:.0%} of the cells alive")
    print(f"onnxruntime (CPU, Python, 1 thread): {onnx_rate:,.0f} steps/s")
    print(f"browser ({browser_name}, wasm, 1 thread): " + (f"{browser:,.0f} steps/s, {drawn:,.0f} steps/s drawing at 32 steps/frame" if browser else "not run"))
    print(f"AA eager step (PyTorch, 1 thread): {aa_rate:,.0f} steps/s")
    print(json.dumps({
        "bench": "export_speed", "lattice": [X, Y, Z], "channels": exp.channels, "params": exp.params, "alive_fraction": round(alive, 3),
        "onnx_steps_per_s": round(onnx_rate, 1), "browser_steps_per_s": None if browser is None else round(browser, 1),
        "browser_drawn_steps_per_s": drawn, "aa_steps_per_s": round(aa_rate, 1), "threads": 1, "browser": browser_name,
        "max_abs_diff_16_steps": diff, "torch": torch.__version__, "load_average_1min": round(os.getloadavg()[0], 2),
        "cpus": os.cpu_count(), "onnxruntime": __import__("onnxruntime").__version__,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
