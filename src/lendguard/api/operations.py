"""Liveness, readiness and metrics for the platform running the service."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from lendguard.api.errors import documented
from lendguard.api.observability import Metrics
from lendguard.policy import Policy
from lendguard.security.guard import Guard
from lendguard.store.events import EventStore

Check = Callable[[], Awaitable[None]]


def readiness_checks(store: EventStore, ledger: sessionmaker[Session], guard: Guard, data_dir: Path, policy: Policy) -> dict[str, Check]:
    """What must answer before the service takes traffic: the event catalogue, the ledger
    database, the shared limits store (Redis, when configured) and the scorecard when the
    policy decides by it."""

    async def catalogue() -> None:
        def probe() -> None:
            with store.engine.connect() as conn:
                conn.execute(text("select 1"))

        await asyncio.to_thread(probe)

    async def database() -> None:
        def probe() -> None:
            with ledger() as session:
                session.execute(text("select 1"))

        await asyncio.to_thread(probe)

    async def limits() -> None:
        await guard.limits.ping()

    checks: dict[str, Check] = {"event_catalogue": catalogue, "ledger_database": database, "limits_store": limits}
    if "CR05" in policy.visibility.credit.checks:
        from lendguard.scoring.artifact import scorecard_location, served_slot

        async def scorecard() -> None:
            location = scorecard_location(policy, data_dir)
            if await asyncio.to_thread(served_slot(location).get) is None:
                raise RuntimeError(f"the policy decides by the score and no scorecard is at {location}")

        checks["scorecard"] = scorecard
    return checks


def operations_router(policy: Policy, metrics: Metrics, checks: dict[str, Check]) -> APIRouter:
    router = APIRouter(tags=["operations"])

    @router.get("/v1/health", summary="Liveness: the process answers")
    def health() -> dict[str, str]:
        return {"status": "ok", "policy_version": policy.version, "policy_sha256": policy.sha256}

    @router.get("/v1/ready", responses=documented(503), summary="Readiness: every store the service needs answers (503 with the failing ones otherwise)")
    async def ready() -> JSONResponse:
        results: dict[str, str] = {}
        for name, check in checks.items():
            try:
                await asyncio.wait_for(check(), timeout=2.0)
                results[name] = "ok"
            except Exception as exc:  # any failure means not ready; say which and why
                results[name] = f"failed: {type(exc).__name__}: {exc}"[:300]
        ready = all(v == "ok" for v in results.values())
        body = {"status": "ready" if ready else "not_ready", "checks": results}
        if not ready:
            body = {"error": {"code": "not_ready", "message": "a store the service needs does not answer", "details": [{"check": k, "result": v} for k, v in results.items()]}}
        return JSONResponse(body, status_code=200 if ready else 503)

    @router.get("/metrics", summary="Prometheus metrics", response_class=Response)
    def prometheus() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return router
