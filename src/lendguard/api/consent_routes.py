"""HTTP endpoints of consent: a user's grants, grant and withdraw, and the access-log export."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from lendguard.api.errors import error_response
from lendguard.consent.access_log import AccessLog
from lendguard.consent.grants import ConsentError
from lendguard.consent.service import change_consent, user_consents
from lendguard.policy import Policy
from lendguard.store.catalog import as_utc
from lendguard.store.events import EventStore


class ConsentChangeRequest(BaseModel):
    scope: str = Field(description="An authorization layer of the policy: basic_profile, phone_device, deep_credit…")
    action: Literal["grant", "withdraw"]
    purposes: list[str] | None = Field(None, description="Purposes (default: every purpose of the scope).")


class ActiveGrant(BaseModel):
    user_id: str
    scope: str
    purpose: str
    granted_at: dt.datetime


class ConsentHistoryEntry(BaseModel):
    event_id: str
    ts: dt.datetime
    scope: str
    action: str
    purposes: list[str]
    text_version: str
    text_hash: str


class UserConsents(BaseModel):
    user_id: str
    at: dt.datetime
    active: list[ActiveGrant]
    history: list[ConsentHistoryEntry]


class AccessLogLine(BaseModel):
    at: dt.datetime
    read_id: str
    actor: str
    engine: str
    purpose: str
    category: str
    form: str
    user_id: str | None


def consent_router(store: EventStore, policy: Policy) -> APIRouter:
    """The user's consents (read, grant, withdraw) and the regulator's access-log export."""
    router = APIRouter(tags=["consent"])

    @router.get("/v1/users/{user_id}/consents", response_model=UserConsents, summary="The user's grants in force and their history")
    def consents(user_id: str) -> dict:
        return user_consents(store, user_id)

    @router.post(
        "/v1/users/{user_id}/consents",
        status_code=201,
        response_model=UserConsents,
        summary="Grant or withdraw a scope (a withdrawal applies at once)",
        responses={422: {"description": "A scope, purpose or text the policy does not know."}},
    )
    def change(user_id: str, body: ConsentChangeRequest):
        try:
            change_consent(store, policy, user_id, body.scope, body.action, body.purposes)
        except (ConsentError, ValueError) as exc:
            return error_response(422, "consent_rejected", str(exc))
        return JSONResponse(UserConsents.model_validate(user_consents(store, user_id)).model_dump(mode="json"), status_code=201)

    @router.get("/v1/access-log", response_model=list[AccessLogLine], summary="Reads of user data through the gate, for the regulator")
    def access_log(
        start: dt.datetime | None = Query(None, alias="from", description="Start, inclusive (ISO 8601)."),
        end: dt.datetime | None = Query(None, alias="to", description="End, exclusive (ISO 8601)."),
        user_id: str | None = Query(None, description="Only this user's entries."),
        limit: int = Query(10_000, ge=1, le=1_000_000),
    ):
        if start and end and as_utc(start) >= as_utc(end):
            return error_response(422, "invalid_period", "`from` must be before `to`")
        frame = AccessLog(store.engine, store.data_dir).export(as_utc(start), as_utc(end), user_id).head(limit)
        return [{**row, "at": row["at"].isoformat()} for row in frame.iter_rows(named=True)]

    return router
