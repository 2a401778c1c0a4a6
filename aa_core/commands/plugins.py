"""`aa plugins`: every installed component, from entry-point metadata (imports nothing)."""
from __future__ import annotations

import json


def add_parser(sub):
    p = sub.add_parser("plugins", help="list installed plugins and their components")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--load", action="store_true", help="also import each plugin to check that it loads")
    return p


def main(args) -> int:
    from .._plugin_manager import PluginHost

    host = PluginHost()
    if args.load:
        for plugin in host.plugins:
            host.load(plugin)
    rows = []
    for plugin in host.plugins:
        key = f"{plugin.distribution}:{plugin.name}"
        status = "not loaded" if not args.load else ("error: " + host.load_errors[key] if key in host.load_errors else "ok")
        for kind, name in plugin.components or [("-", "-")]:
            rows.append({"kind": kind, "name": name, "distribution": plugin.distribution, "version": plugin.version, "module": plugin.module, "status": status})
    conflicts = {}
    for (kind, name), plugins in host.declared().items():
        dists = sorted({p.distribution for p in plugins})
        if len(dists) > 1:
            conflicts[f"{kind}.{name}"] = dists
    if args.json:
        print(json.dumps({"components": rows, "conflicts": conflicts}, indent=2))
        return 0
    from .._table import table

    print(table(["kind", "name", "distribution", "version", "status"], [[r[k] for k in ("kind", "name", "distribution", "version", "status")] for r in rows]))
    dists = sorted({(p.distribution, p.version) for p in host.plugins})
    print(f"\n{len(rows)} components from {len(dists)} distributions")
    for key, ds in conflicts.items():
        print(f"CONFLICT: {key} is registered by {' and '.join(ds)}; specs naming it fail until one is uninstalled")
    return 0
