"""Request guards (pure ASGI): the API key (compared in constant time) and the request body limit."""
from __future__ import annotations

import asyncio
import hmac
import json
from typing import Any

OPEN_PATHS = frozenset({"/", "/health/live", "/health/ready"})  # no key needed: a task's demo page (it asks for the key) and the probes


def error_body(status: int, code: str, message: str, details: Any = None) -> bytes:
    """The JSON every error response carries: ``{"error": {"status", "code", "message", "details"}}``."""
    return json.dumps({"error": {"status": status, "code": code, "message": message, "details": details}}).encode()


async def send_error(send: Any, status: int, code: str, message: str, headers: list[tuple[bytes, bytes]] | None = None) -> None:
    body = error_body(status, code, message)
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), *(headers or [])]})
    await send({"type": "http.response.body", "body": body})


def _presented_key(headers: list[tuple[bytes, bytes]]) -> bytes | None:
    for name, value in headers:
        if name == b"x-api-key":
            return value.strip()
        if name == b"authorization" and value[:7].lower() == b"bearer ":
            return value[7:].strip()
    return None


class GuardMiddleware:
    """401 without the API key (when one is set); 413 for a body over ``max_body_bytes``; 408 when the
    body does not arrive within ``timeout_s``. The body is read here and replayed to the app."""

    def __init__(self, app: Any, *, api_key: str | None, max_body_bytes: int, timeout_s: float):
        self.app = app
        self.key = api_key.encode() if api_key else None
        self.max_body, self.timeout_s = max_body_bytes, timeout_s

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.key is not None and scope.get("path") not in OPEN_PATHS:
            given = _presented_key(scope.get("headers", []))
            if given is None or not hmac.compare_digest(given, self.key):
                await send_error(send, 401, "unauthorized", "a valid API key is required: send 'Authorization: Bearer KEY' or 'X-API-Key: KEY'",
                                 [(b"www-authenticate", b"Bearer")])
                return
        if scope.get("method") not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length" and (not value.isdigit() or int(value) > self.max_body):
                await send_error(send, 413, "body_too_large", f"the request body is limited to {self.max_body} bytes")
                return
        try:
            body = await asyncio.wait_for(self._read(receive), self.timeout_s)
        except TimeoutError:
            await send_error(send, 408, "body_timeout", f"the request body did not arrive within {self.timeout_s:g} s")
            return
        if body is None:
            await send_error(send, 413, "body_too_large", f"the request body is limited to {self.max_body} bytes")
            return
        sent = False

        async def replay() -> dict:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # after the body: wait for the disconnect

        await self.app(scope, replay, send)

    async def _read(self, receive: Any) -> bytes | None:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return b"".join(chunks)
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)
