"""The ``aa`` command line. The core's subcommands live here, one module each (``add_parser`` and
``main``); plugins add theirs through the ``aa_cli_commands`` hook. Command modules import nothing
heavy at module level so that ``aa --help``, ``aa plugins`` and ``aa registry list`` start fast."""
from ._main import main, make_parser

__all__ = ["main", "make_parser"]
