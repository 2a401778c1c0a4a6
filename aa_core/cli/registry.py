"""`aa registry list|show|diff|lock`: architecture versions shipped by the core and plugins.

`list` reads TOML files and lock files only (no torch), so it answers in well under a second.
"""
from __future__ import annotations

import argparse
import json
import sys
import warnings
from typing import Any


def add_parser(sub: Any) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser("registry", help="list, show, compare and lock architecture versions")
    rsub = p.add_subparsers(dest="registry_command", metavar="SUBCOMMAND", required=True)
    ls = rsub.add_parser("list", help="list architectures (name, version, source, params, hash, description)")
    ls.add_argument("pattern", nargs="?", help="glob or substring of name@version")
    ls.add_argument("--json", action="store_true", help="machine-readable output")
    show = rsub.add_parser("show", help="print the resolved spec of NAME@VERSION (defaults filled in)")
    show.add_argument("key", metavar="NAME@VERSION")
    show.add_argument("--raw", action="store_true", help="print the tables as written in the TOML instead")
    diff = rsub.add_parser("diff", help="compare the resolved specs of two architectures")
    diff.add_argument("a", metavar="A@VERSION")
    diff.add_argument("b", metavar="B@VERSION")
    lock = rsub.add_parser("lock", help="record hash and parameter count of new (unlocked) versions in registry.lock")
    lock.add_argument("--folder", help="only this architecture folder (default: every folder of the core and installed plugins)")
    lock.add_argument("--check", action="store_true", help="write nothing; exit 2 if a version is unlocked or changed")
    return p


def _get(reg: Any, key: str) -> Any:
    """Look up an architecture, printing a deprecation as a one-line warning."""
    from ..architectures import ArchitectureDeprecationWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ArchitectureDeprecationWarning)
        arch = reg.get(key)
    for w in caught:
        print(f"aa: warning: {w.message}", file=sys.stderr)
    return arch


def _resolved_model(arch: Any) -> dict[str, Any]:
    from ..assemble import architecture_spec
    from ..host import MODEL_KINDS

    resolved = architecture_spec(arch).resolved()
    return {k: v for k, v in resolved.items() if k in MODEL_KINDS}


def _status(a: Any) -> str:
    if a.locked_hash is None:
        return "unlocked"
    return "MODIFIED" if a.modified else "locked"


def main(args: argparse.Namespace) -> int:
    from ..architectures import registry
    from ..host import host

    reg = registry()
    for plugin, err in sorted(host().load_errors.items()):
        print(f"aa: warning: plugin {plugin} failed to load ({err}); its architectures are not listed", file=sys.stderr)
    cmd = args.registry_command
    if cmd == "list":
        items = reg.list(args.pattern)
        if args.json:
            print(json.dumps([
                {
                    "key": a.key, "name": a.name, "version": a.version, "source": a.source, "params": a.params,
                    "hash": a.hash, "status": _status(a), "description": a.description,
                    "deprecated_by": a.deprecated_by, "path": a.path,
                }
                for a in items
            ], indent=2))
            return 0
        from .._table import table

        rows = []
        for a in items:
            note = f"DEPRECATED → {a.deprecated_by}; " if a.deprecated_by else ""
            if _status(a) != "locked":
                note = f"[{_status(a)}] " + note
            params = f"{a.params:,}" if a.params is not None else "?"
            rows.append([a.name, a.version, a.source, params, a.hash[:12], note + a.description])
        print(table(["name", "version", "source", "params", "hash", "description"], rows))
        if not items:
            print(f"no architecture matches {args.pattern!r}" if args.pattern else "no architectures installed", file=sys.stderr)
        return 0
    if cmd == "show":
        from ..spec import dumps

        arch = _get(reg, args.key)
        head = f"# {arch.key} ({arch.source}, {arch.path})\n# hash {arch.hash}"
        if arch.params is not None:
            head += f"  params {arch.params:,}"
        print(f"{head}\n# {arch.description}")
        if arch.alias_of:
            print(f"# alias of {arch.alias_of}")
        print(dumps(arch.spec if args.raw else _resolved_model(arch)))
        return 0
    if cmd == "diff":
        from ..spec import diff_specs

        a, b = _get(reg, args.a), _get(reg, args.b)
        lines = diff_specs(_resolved_model(a), _resolved_model(b))
        print(f"--- {a.key}  {a.hash[:12]}\n+++ {b.key}  {b.hash[:12]}")
        print("\n".join(lines) if lines else "(identical resolved specs)")
        return 0
    return _lock(args)


def _lock(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .._errors import Problem, UserError
    from ..architectures import folders, lock_problems, write_lock
    from ..assemble import count_architecture_params
    from ..host import host

    targets = folders()
    if args.folder:
        want = Path(args.folder).resolve()
        match = [(f, s) for f, s in targets if f.resolve() == want]
        targets = match or [(want, "local")]
        if not want.is_dir():
            raise UserError(f"--folder {args.folder}: no such directory")
    if args.check:
        problems = [p for folder, source in targets for p in lock_problems(folder, source)]
        problems += [Problem(plugin, f"failed to load, its architectures were not checked: {err}") for plugin, err in sorted(host().load_errors.items())]
        if problems:
            raise UserError("registry lock check failed", problems)
        print("every architecture version is locked and unchanged")
        return 0
    for folder, source in targets:
        added, kept = write_lock(folder, source, count_architecture_params)
        for key in added:
            print(f"locked {key}  ({folder}/registry.lock)")
        if not added:
            print(f"{folder}: nothing new to lock ({len(kept)} locked)")
    return 0

