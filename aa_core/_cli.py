"""The `aa` command line: dispatch, error reporting and exit codes (0 ok, 2 bad input, 1 failure)."""
from __future__ import annotations

import argparse
import sys
import traceback
from importlib import import_module

from ._errors import UserError
from ._version import __version__
from .commands import COMMANDS


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse's own exit code 2, one-paragraph message
        self.print_usage(sys.stderr)
        print(f"aa: error: {message}", file=sys.stderr)
        raise SystemExit(2)


def make_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="aa", description="AA: 3D cellular neural networks, assembled from TOML specs and plugins.")
    parser.add_argument("--version", action="version", version=f"aa-core {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMANDS:
        module = import_module(f".commands.{name}", __package__)
        p = module.add_parser(sub)
        p.set_defaults(_main=module.main)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = make_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_main", None):
        parser.print_help()
        return 2
    try:
        return int(args._main(args) or 0)
    except UserError as exc:
        print(f"aa {args.command}: {exc.render()}", file=sys.stderr)
        return 2
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
