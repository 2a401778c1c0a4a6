"""Where a result came from: code revision, plugin versions, file hashes (torch-free)."""
from __future__ import annotations

import subprocess
from collections.abc import Iterable
from pathlib import Path
from typing import Any


def code_revision() -> dict[str, Any] | None:
    """The git commit of the aa_core source tree and whether it had uncommitted changes.

    None when aa_core is not inside a git checkout (an installed wheel)."""
    root = Path(__file__).resolve().parent.parent.parent
    try:
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
        if head.returncode != 0:
            return None
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, timeout=10,
        )
        return {"commit": head.stdout.strip(), "dirty": bool(dirty.stdout.strip())}
    except (OSError, subprocess.SubprocessError):
        return None


def spec_plugins(spec) -> dict[str, str]:
    """distribution → version of every distribution providing a component the spec uses."""
    out: dict[str, str] = {}
    for reg, _cfg in spec.components.values():
        out[reg.plugin.distribution] = reg.plugin.version
    return dict(sorted(out.items()))


def installed_versions(distributions: Iterable[str]) -> dict[str, str | None]:
    """distribution → installed version (None when not installed)."""
    from importlib import metadata

    out: dict[str, str | None] = {}
    for d in distributions:
        try:
            out[d] = metadata.version(d)
        except metadata.PackageNotFoundError:
            out[d] = None
    return out
