"""Run the service with uvicorn: SIGTERM/SIGINT stop accepting, drain in-flight requests, exit 0."""
from __future__ import annotations

import signal
import socket
import sys
from types import FrameType

import uvicorn

from aa_core.plugin import UserError

from .settings import Settings


class _Server(uvicorn.Server):
    """uvicorn's server, minus re-raising the stop signal after a clean drain (which would end the
    process with 143 instead of 0), plus one line on stderr once the socket listens."""

    def __init__(self, config: uvicorn.Config, state: dict):
        super().__init__(config)
        self.state, self.exit_code = state, 0

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self.should_exit and sig == signal.SIGINT:
            self.force_exit = True
        self.should_exit = True
        self.state["draining"] = True

    async def startup(self, sockets=None) -> None:
        await super().startup(sockets)
        if self.started and sockets:
            host, port = sockets[0].getsockname()[:2]
            print(f"aa serve: listening on http://{host}:{port} (models loading; GET /health/ready says when they are ready)",
                  file=sys.stderr, flush=True)

    def fatal(self, _message: str) -> None:
        self.exit_code, self.should_exit = 2, True


def bind(host: str, port: int) -> socket.socket:
    """The listening socket, bound here so that a taken port or a bad address is a clear error (exit 2)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        family, _, _, _, address = infos[0]
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError as exc:
        raise UserError(f"cannot listen on {host}:{port} ({exc.strerror or exc}); choose another --port or --host") from None
    sock.set_inheritable(True)
    return sock


def serve(settings: Settings) -> int:
    """Serve until stopped; 0 after a clean drain, 2 when a checkpoint has no handler or a model fails to load."""
    from .app import create_app
    from .models import ModelPool

    pool = ModelPool(settings.checkpoints)  # checkpoints and their handlers are checked (torch-free) before binding
    holder: dict = {}
    app = create_app(settings, pool, on_fatal=lambda msg: holder["server"].fatal(msg))  # each handler adds its routes
    sock = bind(settings.host, settings.port)
    config = uvicorn.Config(app, host=settings.host, port=settings.port, log_level=settings.log_level, access_log=False,
                            timeout_keep_alive=5, timeout_graceful_shutdown=int(settings.timeout_s) + 5, lifespan="on")
    server = _Server(config, app.state.service_state)
    holder["server"] = server
    server.run(sockets=[sock])
    if not server.started and server.exit_code == 0:
        return 1
    return server.exit_code
