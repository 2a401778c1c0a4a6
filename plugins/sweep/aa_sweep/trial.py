"""One trial: a normal ``aa run`` in its own process and folder; its report's numbers."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

HEADLINE = ("cosine", "recall_at_1", "recall_at_10", "mrr", "exact_match", "token_f1")


def command(spec: str, overrides: list[str], folder: Path) -> list[str]:
    sets = [*overrides, f"run.output_dir={json.dumps(str(folder / 'runs'))}", f"run.checkpoint_dir={json.dumps(str(folder / 'checkpoints'))}"]
    return [sys.executable, "-m", "aa_core.cli", "run", spec, *[a for s in sets for a in ("--set", s)]]


def run(spec: str, overrides: list[str], folder: Path, timeout_s: float | None = None) -> dict:
    """Run the trial from scratch in ``folder`` (a leftover of a killed attempt is removed first).

    Returns ``{"ok", "returncode", "seconds", "report" (path), "systems", "paired", "log"}``.
    """
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    log = folder / "log.txt"
    t0 = time.perf_counter()
    with open(log, "wb") as out:
        try:
            rc = subprocess.run(command(spec, overrides, folder), stdout=out, stderr=subprocess.STDOUT, timeout=timeout_s,
                                stdin=subprocess.DEVNULL).returncode
        except subprocess.TimeoutExpired:
            rc = -1
    result: dict = {"ok": False, "returncode": rc, "seconds": time.perf_counter() - t0, "log": str(log)}
    reports = sorted((folder / "runs").glob("*/report.json"))
    if rc == 0 and reports:
        rep = json.loads(reports[-1].read_text(encoding="utf-8"))
        result.update(ok=True, report=str(reports[-1]),
                      systems={n: {k: m[k] for k in HEADLINE if k in m} for n, m in rep["systems"].items()},
                      paired={n: {k: p[k]["diff"] for k in HEADLINE if k in p} for n, p in rep.get("paired", {}).items()},
                      params=rep["meta"].get("lattice_params"))
    return result
