"""The `aa` command line: dispatch, error reporting and exit codes (0 ok, 2 bad input, 1 failure)."""
from __future__ import annotations

import argparse
import os
import sys
import traceback
from importlib import import_module
from typing import Any

from .._errors import RunInterrupted, UserError
from .._version import __version__

CORE_COMMANDS = {
    "run": "aa_core.cli.run",
    "check": "aa_core.cli.check",
    "plugins": "aa_core.cli.plugins",
    "registry": "aa_core.cli.registry",
    "plugin": "aa_core.cli.plugin_new",
}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]  # argparse's exit code 2, one paragraph
        self.print_usage(sys.stderr)
        print(f"aa: error: {message}", file=sys.stderr)
        raise SystemExit(2)


def version_text() -> str:
    """The core, the plugin API and every installed plugin distribution with its version and declared
    aa-core range (installed metadata only: nothing is imported)."""
    from .._api import API_VERSION, incompatibility
    from ..host._discovery import scan

    lines = [f"aa-core {__version__} (plugin API {API_VERSION})"]
    seen: dict[str, list] = {}
    for p in scan():
        if p.distribution != "aa-core":
            seen.setdefault(p.distribution, [p.version, p.core_range, set()])[2].add(p.name)
    for dist, (version, rng, _) in sorted(seen.items()):
        flag = "  INCOMPATIBLE" if incompatibility(dist, version, rng) else ""
        lines.append(f"  {dist} {version} (built for aa-core {rng or 'any'}){flag}")
    return "\n".join(lines)


class _VersionAction(argparse.Action):
    def __init__(self, option_strings: list[str], dest: str, **kw: Any):
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kw)

    def __call__(self, parser: argparse.ArgumentParser, namespace: Any, values: Any, option_string: str | None = None) -> None:
        print(version_text())
        parser.exit()


def _plugin_commands() -> dict[str, str]:
    """name → module of every subcommand that installed plugins add (imports their hook modules)."""
    from ..host import host

    try:
        return {name: cmd.module for name, (cmd, _) in host().commands().items() if name not in CORE_COMMANDS}
    except UserError as exc:
        print(f"aa: warning: {exc.render()}", file=sys.stderr)
        return {}


def make_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The parser; plugin subcommands are loaded unless ``argv`` names a core command."""
    parser = _Parser(prog="aa", description="AA: 3D cellular neural networks, assembled from TOML specs and plugins.")
    parser.add_argument("--version", action=_VersionAction, help="show the core, plugin API and installed plugin versions, and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    first = next((a for a in (argv or []) if not a.startswith("-")), None)
    commands = dict(CORE_COMMANDS)
    if first not in CORE_COMMANDS:
        commands.update(_plugin_commands())
    for module_name in commands.values():
        module = import_module(module_name)
        p = module.add_parser(sub)
        p.set_defaults(_main=module.main)
    return parser


def _out_of_memory(command: str, detail: str) -> int:
    from ..assemble import ADVICE

    print(f"aa {command}: out of memory{' (' + detail + ')' if detail else ''}; {ADVICE}", file=sys.stderr)
    return 2


def main(argv: list[str] | None = None) -> int:
    # Idle OpenMP threads sleep rather than spin (read once, when torch loads; a user's setting wins):
    # on a shared machine, spinning threads of a multi-threaded run fight every other process for the
    # cores and can make it an order of magnitude slower than one thread (bench/generate.py).
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    from ._launch import die_with_launcher

    die_with_launcher()  # a torchrun rank dies with torchrun (no-op elsewhere)
    argv = sys.argv[1:] if argv is None else argv
    parser = make_parser(argv)
    args: Any = parser.parse_args(argv)
    if not getattr(args, "_main", None):
        parser.print_help()
        return 2
    try:
        return int(args._main(args) or 0)
    except UserError as exc:
        print(f"aa {args.command}: {exc.render()}", file=sys.stderr)
        return 2
    except RunInterrupted as exc:
        print(f"aa {args.command}: {exc}", file=sys.stderr)
        return exc.exit_code
    except MemoryError:
        return _out_of_memory(args.command, "")
    except RuntimeError as exc:  # torch's CPU/CUDA allocators raise RuntimeError subclasses
        if "out of memory" in str(exc).lower() or "can't allocate memory" in str(exc).lower():
            return _out_of_memory(args.command, str(exc).splitlines()[0])
        traceback.print_exc()
        print("aa: unexpected failure (the traceback above is a bug; please report it)", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("aa: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception:  # noqa: BLE001 - unexpected: keep the traceback for a bug report
        traceback.print_exc()
        print("aa: unexpected failure (the traceback above is a bug; please report it)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
