"""What operations see of the service: request ids, one JSON log line per request (personal
data masked), and Prometheus metrics (request rates and latencies, events, decisions,
rule hits, refusals).

The middleware is plain ASGI rather than Starlette's BaseHTTPMiddleware, which would cost
a task and a copy of every response on the hot path.
"""

from __future__ import annotations

import contextvars
import itertools
import logging
import re
import secrets
import sys
import time
from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Histogram
from pythonjsonlogger.json import JsonFormatter

from lendguard.security.guard import rate_headers
from lendguard.security.masking import mask_text

REQUEST_ID_HEADER = "x-request-id"
_CLIENT_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
access_log = logging.getLogger("lendguard.access")


class RequestIds:
    """Unique request ids without a system call each (uuid4 reads the kernel's random
    source every time): a random prefix per process and a counter. Written in the letters
    a-p only, so no personal-data mask can ever rewrite one in a log line (a uuid's hex
    holds a phone-shaped run of digits in about one request in a hundred)."""

    _LETTERS = str.maketrans("0123456789abcdef", "abcdefghijklmnop")

    def __init__(self, start: int = 1) -> None:
        self.prefix, self.counter = secrets.token_hex(6).translate(self._LETTERS), itertools.count(start)

    def __call__(self) -> str:
        return f"{self.prefix}{next(self.counter):020x}".translate(self._LETTERS)


class Metrics:
    """One registry per app, so two apps in one process (tests) do not share counters."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("lendguard_http_requests", "HTTP requests by route and status", ["method", "route", "status"], registry=self.registry)
        self.latency = Histogram(
            "lendguard_http_request_duration_seconds", "Time to answer, by route", ["method", "route"], registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0),
        )
        self.events = Counter("lendguard_events", "Submitted events by outcome (accepted, duplicate, rejected)", ["outcome"], registry=self.registry)
        self.decisions = Counter("lendguard_decisions", "Visibility decisions served, by outcome", ["outcome"], registry=self.registry)
        self.rule_hits = Counter("lendguard_rule_hits", "Rules that fired: fraud rules raising a risk level, visibility checks failing", ["engine", "rule"], registry=self.registry)
        self.refusals = Counter("lendguard_access_refusals", "Requests the gate refused, by error code", ["code"], registry=self.registry)

    def decision(self, visible: bool, reason_codes: Iterable[str]) -> None:
        self.decisions.labels("visible" if visible else "hidden").inc()
        for code in reason_codes:
            self.rule_hits.labels("visibility", code).inc()


class MaskedJsonFormatter(JsonFormatter):
    """JSON log lines with every phone, ID and card number in them masked, tracebacks included."""

    def format(self, record: logging.LogRecord) -> str:
        return mask_text(super().format(record))


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = request_id_var.get()
        return True


def configure_logging(level: str = "INFO", stream=None) -> None:
    """Every logger (ours, uvicorn's) writes masked JSON lines with the request id."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(MaskedJsonFormatter("{asctime}{levelname}{name}{message}{request_id}", style="{", rename_fields={"asctime": "ts", "levelname": "level", "name": "logger"}))
    handler.addFilter(_RequestIdFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    logging.getLogger("uvicorn.access").disabled = True  # our access line carries more


class ObservabilityMiddleware:
    def __init__(self, app, metrics: Metrics) -> None:
        self.app, self.metrics = app, metrics
        self.new_request_id = RequestIds()

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        given = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"x-request-id"), None)
        request_id = given if given and _CLIENT_ID.fullmatch(given) else self.new_request_id()
        token = request_id_var.set(request_id)
        status = 500

        async def send_with_headers(message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                state = scope.get("state", {}).get("rate_limit")
                if state is not None and status != 429:  # a 429 carries its own
                    headers.extend((k.lower().encode(), v.encode()) for k, v in rate_headers(state).items())
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            elapsed = time.perf_counter() - started
            route = getattr(scope.get("route"), "path_format", None) or "(unmatched)"
            self.metrics.requests.labels(scope["method"], route, str(status)).inc()
            self.metrics.latency.labels(scope["method"], route).observe(elapsed)
            principal = scope.get("state", {}).get("principal")
            access_log.info(
                "request",
                extra={
                    "method": scope["method"], "path": scope["path"], "route": route, "status": status,
                    "duration_ms": round(elapsed * 1000, 2), "caller": getattr(principal, "id", None),
                    "role": getattr(principal, "role", None), "client": (scope.get("client") or ("-",))[0],
                },
            )
            request_id_var.reset(token)
