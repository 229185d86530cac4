"""The borrower's personal data: written sealed field by field, read masked (admins may reveal)."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from lendguard.api.errors import documented, error_response
from lendguard.identity.checks import field_problem
from lendguard.identity.vault import IdentityVault


class IdentityIn(BaseModel):
    """Fields to set; a field left out keeps its value, null clears it."""

    model_config = {"extra": "forbid"}
    name: str | None = Field(None, max_length=64)
    phone: str | None = Field(None, max_length=32, description="11-digit mainland mobile number")
    id_number: str | None = Field(None, max_length=32, description="18-character resident ID number")
    bank_card: str | None = Field(None, max_length=32, description="disbursement and repayment card, 12–19 digits")


class IdentityOut(BaseModel):
    user_id: str
    masked: bool
    name: str | None = None
    phone: str | None = None
    id_number: str | None = None
    bank_card: str | None = None


def identity_router(vault: IdentityVault, may_reveal) -> APIRouter:
    router = APIRouter(tags=["identity"], responses=documented(404))

    @router.put("/v1/users/{user_id}/identity", response_model=IdentityOut, summary="Set the borrower's personal fields (stored encrypted)")
    def put_identity(user_id: str, body: IdentityIn):
        values = body.model_dump(exclude_unset=True)
        problems = [{"field": f, "message": p} for f, v in values.items() if v is not None and (p := field_problem(f, v))]
        if problems:
            return error_response(422, "invalid_identity", "some personal fields are not well formed", problems)
        vault.put(user_id, values)
        return {"user_id": user_id, "masked": True, **(vault.get(user_id) or {})}

    @router.get("/v1/users/{user_id}/identity", response_model=IdentityOut, summary="The borrower's personal fields, masked unless an admin reveals them")
    def get_identity(request: Request, user_id: str, reveal: bool = Query(False, description="Show the fields in clear (admins only; the read is logged).")):
        if reveal and not may_reveal(request):
            return error_response(403, "forbidden", "only an admin may reveal personal fields in clear")
        found = vault.get(user_id, reveal=reveal)
        if found is None:
            return error_response(404, "unknown_identity", f"no personal data is held for user {user_id!r}")
        return JSONResponse({"user_id": user_id, "masked": not reveal, **found})

    return router
