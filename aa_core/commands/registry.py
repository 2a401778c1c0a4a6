"""`aa registry list|show|diff`: architecture versions shipped by the core and plugins."""
from __future__ import annotations

import json


def add_parser(sub):
    p = sub.add_parser("registry", help="list, show and compare architecture versions")
    rsub = p.add_subparsers(dest="registry_command", metavar="SUBCOMMAND", required=True)
    ls = rsub.add_parser("list", help="list architectures")
    ls.add_argument("pattern", nargs="?", help="glob or substring of name@version")
    ls.add_argument("--json", action="store_true")
    show = rsub.add_parser("show", help="print the resolved spec of NAME@VERSION")
    show.add_argument("key")
    diff = rsub.add_parser("diff", help="compare two architectures")
    diff.add_argument("a")
    diff.add_argument("b")
    return p


def main(args) -> int:
    from .._registry import registry

    reg = registry()
    if args.registry_command == "list":
        items = reg.list(args.pattern)
        if args.json:
            print(json.dumps([
                {"name": a.name, "version": a.version, "source": a.source, "params": a.params, "hash": a.hash, "description": a.description, "deprecated_by": a.deprecated_by}
                for a in items
            ], indent=2))
            return 0
        from .._table import table

        rows = [[a.name, a.version, a.source, f"{a.params:,}" if a.params is not None else "?", a.hash[:12], (f"DEPRECATED → {a.deprecated_by}; " if a.deprecated_by else "") + a.description] for a in items]
        print(table(["name", "version", "source", "params", "hash", "description"], rows))
        return 0
    if args.registry_command == "show":
        from .._toml_write import dumps

        arch = reg.get(args.key)
        print(f"# {arch.key} ({arch.source}) hash {arch.hash}\n# {arch.description}")
        print(dumps(arch.spec))
        return 0
    a, b = reg.get(args.a), reg.get(args.b)
    from .._spec_diff import diff_specs

    lines = diff_specs(a.spec, b.spec)
    print(f"--- {a.key}\n+++ {b.key}")
    print("\n".join(lines) if lines else "(identical specs)")
    return 0
