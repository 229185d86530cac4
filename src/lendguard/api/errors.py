"""The API's one error shape: {"error": {"code", "message", "details"}}, and the range of times it accepts."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi.responses import JSONResponse
from pydantic import AfterValidator, BaseModel


class ErrorBody(BaseModel):
    code: str
    message: str
    details: list[dict[str, Any]] = []


class ErrorResponse(BaseModel):
    """Every error the API returns has this shape."""

    error: ErrorBody


def documented(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` for routes that may answer these statuses in the error shape."""
    return {status: {"model": ErrorResponse} for status in statuses}


def error_response(status: int, code: str, message: str, details: list[dict] | None = None) -> JSONResponse:
    return JSONResponse(status_code=status, content={"error": {"code": code, "message": message, "details": details or []}})


def _in_service_range(value: dt.datetime) -> dt.datetime:
    if not EARLIEST <= value.replace(tzinfo=None) <= LATEST:
        raise ValueError(f"a time must lie between {EARLIEST.date()} and {LATEST.date()}")
    return value


# Times the API accepts: far enough from the calendar's ends that a look-back window, a
# schedule of months or a change of time zone stays inside it (else a 500, not a 422).
EARLIEST, LATEST = dt.datetime(1970, 1, 1), dt.datetime(2199, 12, 31)
ServiceTime = Annotated[dt.datetime, AfterValidator(_in_service_range)]
