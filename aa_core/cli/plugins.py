"""`aa plugins`: every installed component, from entry-point metadata (imports nothing unless --load)."""
from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def add_parser(sub: Any) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser("plugins", help="list installed plugins and their components")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--load", action="store_true", help="also import and validate each plugin (exit 2 if any fails)")
    return p


def main(args: argparse.Namespace) -> int:
    from ..host import PluginHost

    host = PluginHost()
    errors = host.load_all() if args.load else {}
    rows = []
    for plugin in host.plugins:
        key = f"{plugin.distribution}:{plugin.name}"
        status = "not loaded" if not args.load else ("error: " + errors[key] if key in errors else "ok")
        for kind, name in plugin.components or (("-", "-"),):
            rows.append({"kind": kind, "name": name, "distribution": plugin.distribution, "version": plugin.version, "module": plugin.module, "status": status})
    conflicts = {f"{k}.{n}": d for (k, n), d in host.conflicts().items()}
    if args.json:
        print(json.dumps({"components": rows, "conflicts": conflicts, "errors": errors}, indent=2))
    else:
        from .._table import table

        print(table(["kind", "name", "distribution", "version", "status"], [[r[k] for k in ("kind", "name", "distribution", "version", "status")] for r in rows]))
        dists = sorted({(p.distribution, p.version) for p in host.plugins})
        print(f"\n{len(rows)} components from {len(dists)} distributions")
        for key, ds in conflicts.items():
            print(f"CONFLICT: {key} is registered by {' and '.join(ds)}; specs naming it fail until one is uninstalled")
    for key, err in errors.items():
        print(f"aa plugins: plugin {key} failed to load: {err}", file=sys.stderr)
    return 2 if errors or (args.load and conflicts) else 0
