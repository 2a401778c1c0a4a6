"""`aa serve --checkpoint [NAME=]DIR ...`: serve checkpoints over HTTP until SIGTERM/SIGINT."""
from __future__ import annotations

import argparse
from typing import Any


def add_parser(sub: Any) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser("serve", help="serve checkpoints over HTTP (REST API, batching, metrics, demo page)")
    p.add_argument("--checkpoint", action="append", required=True, metavar="[NAME=]DIR",
                   help="a checkpoint or run folder (its best checkpoint); repeat for more models, the first is the default")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1; any other needs an API key)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000; 0 picks a free one)")
    p.add_argument("--api-key-file", metavar="FILE", help="file holding the API key (else the AA_SERVE_API_KEY environment variable)")
    p.add_argument("--max-batch", type=int, default=32, help="most inputs per forward pass (1 turns dynamic batching off)")
    p.add_argument("--max-wait-ms", type=float, default=0.0,
                   help="how long a pass waits for more inputs after the first (default 0: a pass takes every input queued "
                        "when the model becomes free, so batches grow with the load and a lone input never waits)")
    p.add_argument("--max-inputs", type=int, default=64, help="most inputs in one request (questions of a batch, images, ...)")
    p.add_argument("--max-body-bytes", type=int, default=256 * 1024, help="largest request body accepted")
    p.add_argument("--timeout-s", type=float, default=30.0, help="a request not answered in this time gets 504")
    p.add_argument("--option", action="append", default=[], metavar="NAME=VALUE",
                   help="a setting of the handler serving the checkpoints (repeatable), e.g. aa-qa's top_k=3 (alternatives "
                        "returned when a request does not say) and max_question_chars=1000; an unknown NAME lists them")
    # 0.1's Q→A flags, deprecated (removed in aa-serve 0.3)
    p.add_argument("--max-questions", type=int, default=None, help="deprecated: use --max-inputs")
    p.add_argument("--max-question-chars", type=int, default=None, help="deprecated: use --option max_question_chars=N")
    p.add_argument("--top-k", type=int, default=None, help="deprecated: use --option top_k=N")
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads for the model (default 1: on a small or shared CPU more threads slow each pass; 0: torch's default)")
    p.add_argument("--cors-origin", action="append", default=[], metavar="ORIGIN", help="allow cross-origin requests from ORIGIN (repeatable; none by default)")
    p.add_argument("--log-level", default="warning", choices=["critical", "error", "warning", "info", "debug"], help="uvicorn log level")
    return p


def main(args: argparse.Namespace) -> int:
    from .server import serve
    from .settings import settings_from_args

    return serve(settings_from_args(args))
