"""Prometheus metrics (prometheus-client), one registry per app: no module-level collectors, so
two apps in one process (tests) never share counts."""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "cityshield_http_requests", "HTTP requests", ["method", "route", "status"], registry=r
        )
        self.latency = Histogram(
            "cityshield_http_request_duration_seconds",
            "Time to answer an HTTP request",
            ["method", "route"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=r,
        )
        self.auth_failures = Counter(
            "cityshield_auth_failures", "Refused logins and tokens", ["kind"], registry=r
        )
        self.ingest_batches = Counter(
            "cityshield_ingest_batches", "Ingest batches by outcome", ["outcome"], registry=r
        )
        self.ingest_items = Counter(
            "cityshield_ingest_items", "Items stored from ingest", ["kind"], registry=r
        )
        self.ingest_queue = Gauge(
            "cityshield_ingest_queue_depth", "Ingest batches waiting for the writer", registry=r
        )
        self.suppressed = Counter(
            "cityshield_alerts_suppressed", "Alerts held back by suppressions", registry=r
        )


class MetricsMiddleware:
    """Counts and times every request by its route template (``/alerts/{alert_id}``), never by
    its raw path: ids in paths would make the label set unbounded."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            method = scope["method"]
            self.metrics.requests.labels(method, route, str(status)).inc()
            self.metrics.latency.labels(method, route).observe(time.perf_counter() - started)
