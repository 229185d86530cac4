"""Tokens for people: a front-end partner opens a borrower's session; an admin issues staff tokens."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from lendguard.api.errors import error_response
from lendguard.policy import Policy
from lendguard.security.guard import Guard
from lendguard.security.tokens import issue_token, read_token


class TokenIn(BaseModel):
    model_config = {"extra": "forbid"}
    role: Literal["borrower", "risk_analyst", "reviewer", "compliance_auditor", "admin"]
    user_id: str | None = Field(None, min_length=1, max_length=64, description="The borrower (borrower tokens only).")
    subject: str | None = Field(None, min_length=1, max_length=64, description="Who the staff token is for (staff tokens only).")


class TokenOut(BaseModel):
    token: str
    role: str
    subject: str
    expires_at: int  # Unix seconds


def auth_router(guard: Guard, policy: Policy) -> APIRouter:
    router = APIRouter(tags=["auth"])

    @router.post("/v1/auth/tokens", status_code=201, response_model=TokenOut, summary="Issue a token: a borrower's session (partners), or a staff member's (admins)")
    def issue(request: Request, body: TokenIn):
        caller = getattr(request.state, "principal", None)
        if body.role == "borrower":
            if not body.user_id:
                return error_response(422, "invalid_request", "a borrower token needs the borrower's user_id")
            subject = f"{caller.id if caller else 'local'}:{body.user_id}"
            ttl = policy.security.borrower_token_ttl_seconds
        else:
            if guard.enabled and not (caller and caller.may("tokens:staff")):
                return error_response(403, "forbidden", "only an admin may issue staff tokens")
            if not body.subject or body.user_id:
                return error_response(422, "invalid_request", "a staff token names its subject and no user_id")
            subject, ttl = body.subject, policy.security.token_ttl_seconds
        token = issue_token(guard.secret, role=body.role, subject=subject, user_id=body.user_id, ttl_seconds=ttl)
        return TokenOut(token=token, role=body.role, subject=subject, expires_at=read_token(guard.secret, token).expires_at)

    return router
