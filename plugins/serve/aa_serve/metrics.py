"""Prometheus metrics of one service: requests, errors, latency, batch sizes, forward time, readiness (a task's
handler adds its own to ``registry``)."""
from __future__ import annotations

import time
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})  # any other is counted as OTHER


class Metrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self, endpoints: set[str]):
        self.endpoints = endpoints  # request paths counted under their own label; anything else is "other"
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("aa_serve_requests", "HTTP requests by endpoint, method and status", ["endpoint", "method", "status"], registry=r)
        self.errors = Counter("aa_serve_errors", "error responses (status >= 400) by endpoint and status class", ["endpoint", "kind"], registry=r)
        self.latency = Histogram("aa_serve_request_duration_seconds", "request latency", ["endpoint"], buckets=LATENCY_BUCKETS, registry=r)
        self.batch_size = Histogram("aa_serve_batch_size", "inputs (questions, images, ...) per forward pass", ["model"], buckets=BATCH_BUCKETS, registry=r)
        self.forward = Histogram("aa_serve_forward_seconds", "time of one forward pass", ["model"], buckets=LATENCY_BUCKETS, registry=r)
        self.ready = Gauge("aa_serve_model_ready", "1 when the model is loaded", ["model"], registry=r)

    def render(self) -> bytes:
        return generate_latest(self.registry)

    def observer(self, model: str):
        def observe(size: int, seconds: float) -> None:
            self.batch_size.labels(model).observe(size)
            self.forward.labels(model).observe(seconds)
        return observe


class MetricsMiddleware:
    """Times every HTTP request and counts it by endpoint and status (pure ASGI)."""

    def __init__(self, app: Any, metrics: Metrics):
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        endpoint = path if path in self.metrics.endpoints else "other"
        status = {"code": 500}
        t0 = time.perf_counter()

        async def send_status(message: dict) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            code = status["code"]
            self.metrics.latency.labels(endpoint).observe(time.perf_counter() - t0)
            method = scope.get("method", "")
            self.metrics.requests.labels(endpoint, method if method in METHODS else "OTHER", str(code)).inc()
            if code >= 400:
                self.metrics.errors.labels(endpoint, f"{code // 100}xx").inc()
