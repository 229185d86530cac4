"""HTTP routes of the evidence log: the signed tree head, inclusion and consistency proofs, verification."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request

from lendguard.api.errors import error_response as _error
from lendguard.evidence import (
    AmbiguousRecordError,
    LogIntegrityError,
    UnknownRecordError,
)
from lendguard.evidence.model import to_builtins
from lendguard.evidence.shared import SharedLog
from lendguard.evidence.verify import parse_record, verify_inclusion_bundle

_ERROR_SCHEMA = {
    "type": "object",
    "properties": {
        "error": {
            "type": "object",
            "properties": {"code": {"type": "string"}, "message": {"type": "string"}, "details": {"type": "array", "items": {"type": "object"}}},
        }
    },
}
_ERROR = {"content": {"application/json": {"schema": _ERROR_SCHEMA}}}


def evidence_router(shared: SharedLog) -> APIRouter:
    """The evidence routes over the process's log of one data directory (opened on first use)."""
    router = APIRouter(prefix="/v1/evidence", tags=["evidence"])
    log = shared.get

    @router.get("/head", summary="The current signed tree head")
    def head() -> dict[str, Any]:
        return to_builtins(log().tree_head())

    @router.get(
        "/proofs/{record_id}",
        summary="An inclusion bundle for a record (verifiable offline)",
        responses={404: {"description": "The record is not in the log.", **_ERROR}, 409: {"description": "The id is logged under several kinds; pass `kind`.", **_ERROR}},
    )
    def proof(record_id: str, kind: str | None = Query(None, description="The record's kind, when the id is logged under several.")) -> Any:
        try:
            return to_builtins(log().prove(record_id, kind))
        except UnknownRecordError as exc:
            return _error(404, "unknown_record", str(exc))
        except AmbiguousRecordError as exc:
            return _error(409, "ambiguous_record", str(exc))
        except LogIntegrityError as exc:
            return _error(500, "log_damaged", str(exc))

    @router.get(
        "/consistency",
        summary="A proof that the log of `old` leaves is a prefix of the log of `new` leaves",
        responses={400: {"description": "Sizes out of range.", **_ERROR}},
    )
    def consistency(
        old: int = Query(..., ge=0, description="The older tree size."),
        new: int | None = Query(None, ge=0, description="The newer tree size (default: the current size)."),
    ) -> Any:
        try:
            return to_builtins(log().consistency(old, new))
        except LogIntegrityError as exc:
            return _error(500, "log_damaged", str(exc))
        except ValueError as exc:
            return _error(400, "invalid_sizes", str(exc))

    @router.post(
        "/verify",
        summary="Check that a record is the leaf an inclusion bundle proves",
        responses={422: {"description": "The body is not {bundle, record}.", **_ERROR}},
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["bundle", "record"],
                            "properties": {
                                "bundle": {"type": "object", "description": "As returned by GET /v1/evidence/proofs/{record_id}."},
                                "record": {"type": "object", "description": "The record as kept in its own store."},
                                "public_key": {"type": "string", "description": "PEM; default: this log's own public key."},
                            },
                        }
                    }
                },
            }
        },
    )
    async def verify(request: Request) -> Any:
        """Verifies against this log's public key unless `public_key` is given (not the key inside the bundle)."""
        try:
            body = parse_record(await request.body())
        except ValueError as exc:
            return _error(422, "invalid_request", str(exc))
        if not isinstance(body, dict) or "bundle" not in body or "record" not in body:
            return _error(422, "invalid_request", 'the body must be {"bundle": {...}, "record": {...}}')
        key = body.get("public_key") or log().public_key_pem
        result = verify_inclusion_bundle(body["bundle"], body["record"], key)
        return to_builtins(result)

    return router
