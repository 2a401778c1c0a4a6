"""One module per `aa` subcommand; each defines ``add_parser(subparsers)`` and ``main(args)``.

Command modules import nothing heavy at module level so that `aa --help`, `aa plugins`
and `aa registry list` start fast.
"""

COMMANDS = ["run", "check", "plugins", "registry", "ask", "evaluate"]
