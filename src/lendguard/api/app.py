"""The HTTP API: ingest events and read a user's visibility decision (OpenAPI at /docs)."""

from __future__ import annotations

import datetime as dt
import gc
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import msgspec
import polars as pl
from fastapi import Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from lendguard import __version__
from lendguard.api.auth_routes import auth_router
from lendguard.api.consent_routes import consent_router
from lendguard.api.dashboard_routes import dashboard_router
from lendguard.api.errors import ErrorBody, ErrorResponse, ServiceTime  # noqa: F401  (re-exported)
from lendguard.api.errors import error_response as _error
from lendguard.api.evidence_routes import evidence_router
from lendguard.api.identity_routes import identity_router
from lendguard.api.loan_routes import loan_router
from lendguard.api.observability import (
    Metrics,
    ObservabilityMiddleware,
    configure_logging,
)
from lendguard.api.operations import operations_router, readiness_checks
from lendguard.api.review_routes import review_router
from lendguard.api.score_routes import score_router
from lendguard.events.ingest import ingest
from lendguard.events.schema import json_schema
from lendguard.evidence.shared import SharedLog
from lendguard.features.window import AsOf
from lendguard.fraud.live import LiveFraud
from lendguard.identity.vault import IdentityVault
from lendguard.loans.book import LoanBook
from lendguard.loans.database import open_ledger
from lendguard.loans.owners import line_owner, loan_owner
from lendguard.loans.service import LendingService
from lendguard.policy import Policy, load_policy
from lendguard.reviews.service import ReviewService
from lendguard.scoring.scorecard import ScorecardError
from lendguard.security.access import uncovered_routes
from lendguard.security.guard import AccessRefused, Guard
from lendguard.security.keyring import Keyring, master_key
from lendguard.store.events import EventStore
from lendguard.synth.generate import synthetic_as_of
from lendguard.visibility.credit_score import ScoreUnavailable
from lendguard.visibility.decision import Decision
from lendguard.visibility.service import VisibilityService, evaluate_user

MAX_BATCH = 10_000
logger = logging.getLogger("lendguard.api")
ERROR_RESPONSES = {
    400: "A malformed request.",
    401: "No credentials, or they fail: unauthenticated, unknown_partner, unsigned_request, stale_request, bad_nonce, bad_signature, replayed_request, invalid_token.",
    403: "The caller may not: forbidden (role), out_of_scope (user), purpose_not_allowed, ip_not_allowed.",
    422: "The request is not valid (each field and reason in details).",
    429: "rate_limited: over the caller's or the IP's rate; Retry-After and RateLimit-* headers say when to retry.",
    500: "internal_error: the server failed; X-Request-ID finds it in the logs.",
    503: "limits_unavailable: the shared rate-limit and nonce store (Redis) does not answer; retry after Retry-After.",
}
_ENCODER = msgspec.json.Encoder()


class EventRejection(BaseModel):
    index: int  # 0-based position in the submitted `events` array
    event_id: str | None = None
    field: str | None = None
    message: str


class RiskTransitionOut(BaseModel):
    user_id: str
    from_level: str
    to_level: str
    rule_id: str
    at: str


class IngestResponse(BaseModel):
    received: int
    accepted: int
    stored: int
    duplicates: list[str]
    risk_transitions: list[RiskTransitionOut] = []  # levels the fraud engine raised on these events
    rejected: list[EventRejection]


class _Envelope(msgspec.Struct, forbid_unknown_fields=True):
    events: list[msgspec.Raw]


THREADS_ENV = "LENDGUARD_LEDGER_THREADS"


def ledger_threads() -> int:
    """How many ledger calls one server process runs at once (env
    `LENDGUARD_LEDGER_THREADS`, default 4). More threads contend for the GIL on every
    database round trip: on 2 CPUs, 40 threads gave about 190 repayments/s, 4 about 310/s."""
    value = os.environ.get(THREADS_ENV, "4")
    if not value.isdigit() or not 1 <= int(value) <= 1000:
        raise ValueError(f"{THREADS_ENV} must be a whole number of threads from 1 to 1000, not {value!r}")
    return int(value)


def create_app(data_dir: str | Path | None = None, policy: Policy | None = None) -> FastAPI:
    if os.environ.get("LENDGUARD_LOG_LEVEL"):  # set by `lendguard serve`, read again in each worker process
        configure_logging(os.environ["LENDGUARD_LOG_LEVEL"])
    threads = ledger_threads()
    data_dir = Path(data_dir or os.environ.get("LENDGUARD_DATA_DIR", "lendguard-data"))
    policy = policy or load_policy(os.environ.get("LENDGUARD_POLICY") or None)
    store = EventStore(data_dir)
    evidence = SharedLog(data_dir)  # one open evidence log for every route of this process
    service = VisibilityService(store, policy, evidence)
    fixed_as_of = synthetic_as_of(data_dir)

    fraud = LiveFraud(data_dir, policy)  # accepted events feed the fraud engine at once
    ledger = open_ledger(data_dir)  # SQLite in the data directory, or LENDGUARD_DATABASE_URL
    lending = LendingService(service, LoanBook(ledger, policy, evidence))
    reviews = ReviewService.open(data_dir, policy)
    vault = IdentityVault(ledger, Keyring(ledger, master_key(data_dir), policy.security.encryption.algorithm), policy.security.encryption.fields)
    owners = {"loan": lambda i: loan_owner(ledger, i), "line": lambda i: line_owner(ledger, i), "review": reviews.owner}
    guard = Guard.from_environment(data_dir, policy.security, owners)
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if not guard.enabled:
            logger.warning("LENDGUARD_AUTH=off: the API accepts unauthenticated requests; never run it so in production")
        try:  # before the first request, not during it
            await run_in_threadpool(service.warm, resolve_as_of(None))
        except Exception as exc:  # a decision will say what is wrong; starting must not fail on it
            logger.warning("could not prepare decisions before serving: %s", exc)
        # What start-up built (modules, the policy, schemas) lives as long as the process:
        # frozen, the collector stops walking it on every full collection, which otherwise
        # pauses every request for a tenth of a second or more.
        gc.collect()
        gc.freeze()
        yield
        # uvicorn has stopped taking requests and waited for those in flight: every event
        # it accepted is committed, so closing now loses none.
        logger.info("shutting down: closing the fraud engine, the ledger and the evidence log")
        fraud.close()
        ledger.kw["bind"].dispose()
        evidence.close()
        await guard.close()

    app = FastAPI(
        lifespan=lifespan,
        title="lendguard",
        version=__version__,
        description=(
            "Entry visibility for an embedded loan entry: ingest events, read decisions with reasons and advice.\n\n"
            "Partners sign each request (X-LG-Partner, X-LG-Timestamp, X-LG-Nonce, X-LG-Signature: base64 HMAC-SHA256 of "
            "METHOD, path, sorted query, timestamp, nonce and the body's SHA-256, one per line); people send "
            "'Authorization: Bearer <token>'. See docs/security.md."
        ),
        responses={code: {"model": ErrorResponse, "description": text} for code, text in ERROR_RESPONSES.items()},
        dependencies=[Depends(guard)],
    )
    app.state.service = service
    app.state.metrics = metrics
    app.add_middleware(ObservabilityMiddleware, metrics=metrics)

    @app.exception_handler(AccessRefused)
    async def _refused(request: Request, exc: AccessRefused) -> JSONResponse:
        metrics.refusals.labels(exc.refusal.code).inc()
        response = _error(exc.refusal.status, exc.refusal.code, exc.refusal.message)
        response.headers.update(exc.headers)
        return response

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        logger.exception("unhandled error")
        return _error(500, "internal_error", "the server failed to answer; the request id in X-Request-ID finds it in the logs")

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return _error(exc.status_code, "http_error", str(exc.detail))

    @app.exception_handler(ScoreUnavailable)
    async def _no_score(request: Request, exc: ScoreUnavailable) -> JSONResponse:
        # The policy decides by the learned score and no usable scorecard is served.
        return _error(503, "no_model", str(exc))

    @app.exception_handler(ScorecardError)
    async def _bad_score(request: Request, exc: ScorecardError) -> JSONResponse:
        # The served scorecard cannot be read (a corrupt file).
        return _error(503, "bad_model", str(exc))

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        details = [{"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]} for e in exc.errors()]
        return _error(422, "invalid_request", "the request is not valid", details)

    def resolve_as_of(value: dt.datetime | None) -> AsOf:
        moment = value or fixed_as_of or dt.datetime.now(dt.timezone.utc)
        return AsOf.of(moment, policy)

    @app.get("/v1/schema/events", tags=["events"], summary="JSON Schema of one event")
    def event_schema() -> dict:
        return json_schema()

    @app.post(
        "/v1/events",
        tags=["events"],
        summary="Submit a batch of events",
        response_model=IngestResponse,
        responses={
            200: {"description": "At least one event was accepted; rejected ones are listed one by one."},
            422: {"model": IngestResponse, "description": "Every event was rejected (each with its reason), or the body is not a batch."},
            413: {"model": ErrorResponse},
        },
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["events"],
                            "properties": {"events": {"type": "array", "maxItems": MAX_BATCH, "items": {"type": "object", "description": "An event; see GET /v1/schema/events."}}},
                        }
                    }
                },
            }
        },
    )
    async def post_events(request: Request) -> Response:
        """Validate each event on its own: valid ones are stored (idempotently by `event_id`),
        invalid ones are rejected with the field and reason and kept in the dead-letter file."""
        body = await request.body()
        try:
            envelope = msgspec.json.decode(body, type=_Envelope)
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            return _error(400, "invalid_batch", f'the body must be {{"events": [...]}}: {exc}')
        if len(envelope.events) > MAX_BATCH:
            return _error(413, "batch_too_large", f"at most {MAX_BATCH} events per request, got {len(envelope.events)}")
        items = [(index, bytes(raw)) for index, raw in enumerate(envelope.events)]
        report = ingest(items, "http", store, policy)
        fresh = [e for e in report.events if e.event_id not in set(report.duplicates)]
        transitions = fraud.feed(fresh) if fresh else []
        metrics.events.labels("accepted").inc(len(fresh))
        metrics.events.labels("duplicate").inc(len(report.duplicates))
        metrics.events.labels("rejected").inc(len(report.rejected))
        for t in transitions:
            metrics.rule_hits.labels("fraud", t.rule_id).inc()
        payload = {
            "received": report.received,
            "accepted": report.accepted,
            "stored": report.stored,
            "duplicates": report.duplicates,
            "risk_transitions": [
                {"user_id": t.user_id, "from_level": t.from_level, "to_level": t.to_level, "rule_id": t.rule_id, "at": t.at.isoformat()} for t in transitions
            ],
            "rejected": [
                {"index": r.position, "event_id": r.event_id, "field": r.field, "message": r.message} for r in report.rejected
            ],
        }
        status = 422 if report.received and not report.accepted else 200
        return Response(_ENCODER.encode(payload), status_code=status, media_type="application/json")

    @app.get(
        "/v1/users/{user_id}/visibility",
        tags=["visibility"],
        summary="Whether the user sees the loan entry, and why",
        response_model=Decision,
        responses={404: {"model": ErrorResponse, "description": "No events for this user."}, 503: {"model": ErrorResponse, "description": "The policy decides by the learned score and no scorecard is served (no_model)."}},
    )
    async def visibility(user_id: str, as_of: ServiceTime | None = Query(None, description="Evaluation time (ISO 8601); default now.")) -> Response:
        at = resolve_as_of(as_of)
        # A decision this process has rendered already is answered on the event loop; any
        # other needs features or rendering, which run on a worker thread.
        served = service.served_decision(user_id, at) or await run_in_threadpool(service.serve, user_id, at)
        if served is None:
            return _error(404, "unknown_user", f"no events for user {user_id!r}")
        metrics.decision(served.visible, served.reason_codes)
        return Response(served.body, media_type="application/json")

    app.include_router(loan_router(lending, resolve_as_of, threads))
    app.include_router(consent_router(store, policy))
    app.include_router(evidence_router(evidence))
    def user_features(user_id: str, as_of: dt.datetime | None) -> pl.DataFrame | None:
        result = evaluate_user(store, policy, resolve_as_of(as_of), user_id, actor="scoring")
        features = None if result is None else result.features.filter(pl.col("user_id") == user_id)
        return features if features is not None and features.height else None

    app.include_router(score_router(data_dir, policy, user_features))
    app.include_router(review_router(data_dir, policy, lambda user_id: service.decision(user_id, resolve_as_of(None)), reviews))
    app.include_router(identity_router(vault, lambda request: not guard.enabled or _may(request, "identity:reveal")))
    app.include_router(auth_router(guard, policy))
    app.include_router(operations_router(policy, metrics, readiness_checks(store, ledger, guard, data_dir, policy)))
    app.include_router(dashboard_router(data_dir, policy))
    missing = uncovered_routes(route_keys(app))
    if missing:
        raise RuntimeError(f"routes without an entry in security/routes.toml (no one could call them): {missing}")
    return app


def _may(request: Request, permission: str) -> bool:
    principal = getattr(request.state, "principal", None)
    return principal is not None and principal.may(permission)


def route_keys(app: FastAPI) -> list[str]:
    """'METHOD /path' of every documented route. (A route left out of the document, as the
    dashboard's page is, must still be in routes.toml: the gate refuses unmapped routes.)"""
    return [f"{m.upper()} {path}" for path, ops in app.openapi()["paths"].items() for m in ops]
