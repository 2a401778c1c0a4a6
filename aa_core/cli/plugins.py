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
    from .._api import API_VERSION, incompatibility
    from .._version import __version__
    from ..host import PluginHost

    host = PluginHost()
    errors = host.load_all() if args.load else {}
    rows = []
    for plugin in host.plugins:
        key = f"{plugin.distribution}:{plugin.name}"
        if args.load:
            status = "error: " + errors[key] if key in errors else "ok"
        else:  # the range is metadata: an incompatible plugin is flagged without importing it
            status = "incompatible" if incompatibility(plugin.distribution, plugin.version, plugin.core_range) else "not loaded"
        core = "(core)" if plugin.distribution == "aa-core" else (plugin.core_range or "any")
        for kind, name in plugin.components or (("-", "-"),):
            rows.append({"kind": kind, "name": name, "distribution": plugin.distribution, "version": plugin.version,
                         "aa_core": core, "module": plugin.module, "status": status})
    conflicts = {f"{k}.{n}": d for (k, n), d in host.conflicts().items()}
    if args.json:
        print(json.dumps({"core": __version__, "api_version": API_VERSION, "components": rows, "conflicts": conflicts, "errors": errors}, indent=2))
    else:
        from .._table import table

        cols = ("kind", "name", "distribution", "version", "aa_core", "status")
        print(table(["kind", "name", "distribution", "version", "built for aa-core", "status"], [[r[k] for k in cols] for r in rows]))
        dists = sorted({(p.distribution, p.version) for p in host.plugins})
        print(f"\n{len(rows)} components from {len(dists)} distributions; aa-core {__version__}, plugin API {API_VERSION}")
        for p in host.plugins:
            why = incompatibility(p.distribution, p.version, p.core_range)
            if why and not args.load:
                print(f"INCOMPATIBLE: {why}; specs using its components, tasks or sections fail")
        for key, ds in conflicts.items():
            print(f"CONFLICT: {key} is registered by {' and '.join(ds)}; specs naming it fail until one is uninstalled")
    for key, err in errors.items():
        print(f"aa plugins: plugin {key} failed to load: {err}", file=sys.stderr)
    return 2 if errors or (args.load and conflicts) else 0
