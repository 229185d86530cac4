"""Offers, credit lines, drawdowns, repayments and loans over HTTP.

Every state-changing call needs an `Idempotency-Key` header: a retry with the same key
and body returns the first response (with `Idempotent-Replayed: true`) and moves no
money; the same key with another body is refused with 409.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import anyio
import anyio.to_thread
import msgspec
from fastapi import APIRouter, Header, Query
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from lendguard.api.errors import ServiceTime, documented, error_response
from lendguard.features.window import AsOf
from lendguard.loans.book import LedgerError
from lendguard.loans.offers import Offer
from lendguard.loans.service import LendingService

_ENCODER = msgspec.json.Encoder(enc_hook=str)  # dates and decimals as text
_OFFERS = TypeAdapter(list[Offer])
AMOUNT = r"^[0-9]{1,12}(\.[0-9]{1,2})?$"
IdempotencyKey = Header(..., alias="Idempotency-Key", min_length=1, max_length=128, description="Makes a retry safe: the same key and body return the first answer.")


class Strict(BaseModel):
    """Unknown fields are refused: nothing a caller adds can, say, withhold part of a disbursement."""

    model_config = ConfigDict(extra="forbid")


class LineRequest(Strict):
    user_id: str = Field(min_length=1, max_length=64)
    product_id: str = Field(min_length=1, max_length=32)


class DrawdownRequest(Strict):
    amount: str = Field(pattern=AMOUNT, description="Yuan, as a decimal string with at most 2 places, e.g. \"1200.00\".")
    term_months: int = Field(ge=1, le=60)
    method: str | None = Field(default=None, description="equal_installment | equal_principal | interest_first | daily_interest (default: the product's)")
    at: ServiceTime | None = Field(default=None, description="Value time (default now); may not precede the loan's last accrual.")


class LoanRequest(DrawdownRequest):
    """A loan in one call: the user's line on the product (opened from their offer if needed), then the drawdown."""

    user_id: str = Field(min_length=1, max_length=64)
    product_id: str = Field(min_length=1, max_length=32)


class RepaymentRequest(Strict):
    amount: str = Field(pattern=AMOUNT)
    at: ServiceTime | None = None


class WriteOffRequest(Strict):
    at: ServiceTime | None = None


def _answer(result: dict[str, Any], status: int = 200) -> Response:
    replayed = bool(result.pop("replayed", False))
    headers = {"Idempotent-Replayed": "true"} if replayed else {}
    return Response(_ENCODER.encode(result), status_code=200 if replayed else status, headers=headers, media_type="application/json")


def _refused(exc: LedgerError) -> JSONResponse:
    return error_response(exc.status, exc.code, str(exc), [{"field": k, "message": str(v)} for k, v in exc.details.items()])


def loan_router(service: LendingService, as_of: Callable[[dt.datetime | None], AsOf], threads: int = 4) -> APIRouter:
    """The loan endpoints. Ledger calls block on the database; they run in worker threads,
    at most `threads` at once per process (their own pool: other endpoints keep theirs)."""
    router = APIRouter(tags=["loans"], responses=documented(404, 409))
    book = service.book
    limiters: list[anyio.CapacityLimiter] = []  # made on first use, inside the server's event loop

    async def attempt(call: Callable[[], dict[str, Any]], status: int = 200) -> Response:
        if not limiters:
            limiters.append(anyio.CapacityLimiter(threads))
        try:
            return _answer(await anyio.to_thread.run_sync(call, limiter=limiters[0]), status)
        except LedgerError as exc:
            return _refused(exc)

    @router.get("/v1/users/{user_id}/offers", response_model=list[Offer], summary="Each product: admitted or not and why, line, daily rate, APR by IRR")
    def offers(user_id: str, at: ServiceTime | None = Query(None, alias="as_of", description="Evaluation time; default now.")) -> Response:
        found = service.offers(user_id, as_of(at))
        if found is None:
            return error_response(404, "unknown_user", f"no events for user {user_id!r}")
        return Response(_OFFERS.dump_json(found), media_type="application/json")

    @router.post("/v1/lines", status_code=201, summary="Open a revolving line from an offer the user is admitted to")
    async def open_line(body: LineRequest, key: str = IdempotencyKey) -> Response:
        return await attempt(lambda: service.open_line(body.user_id, body.product_id, key, as_of(None)), 201)

    @router.get("/v1/lines/{line_id}", summary="A line's limit, use and availability")
    async def line(line_id: str) -> Response:
        return await attempt(lambda: book.line(line_id))

    @router.post("/v1/lines/{line_id}/drawdowns", status_code=201, summary="Borrow from a line: contract, schedule, disbursement of the full principal")
    async def draw(line_id: str, body: DrawdownRequest, key: str = IdempotencyKey) -> Response:
        return await attempt(lambda: book.draw(line_id, body.amount, body.term_months, body.method, key, body.at), 201)

    @router.post("/v1/loans", status_code=201, summary="Apply: open the user's line on an admitted offer if needed, then draw the loan")
    async def apply(body: LoanRequest, key: str = IdempotencyKey) -> Response:
        return await attempt(lambda: service.apply(body.user_id, body.product_id, body.amount, body.term_months, body.method, key, as_of(body.at), body.at), 201)

    @router.get("/v1/loans/{loan_id}", summary="A loan: status, balances, bucket, installments")
    async def loan(loan_id: str) -> Response:
        return await attempt(lambda: book.loan(loan_id))

    @router.get("/v1/loans/{loan_id}/contract", summary="The contract texts (zh, en), terms and hash")
    async def contract(loan_id: str) -> Response:
        return await attempt(lambda: book.contract(loan_id))

    @router.get("/v1/loans/{loan_id}/payoff", summary="What closes the loan on a day")
    async def payoff(loan_id: str, on: ServiceTime | None = Query(None, description="Value time; default now.")) -> Response:
        return await attempt(lambda: book.payoff(loan_id, on))

    @router.get("/v1/loans/{loan_id}/statement", summary="The loan on a day: balances, schedule, amount due, payoff, journal entries")
    async def statement(loan_id: str, on: ServiceTime | None = Query(None, description="Value time; default now.")) -> Response:
        return await attempt(lambda: book.statement(loan_id, on))

    @router.post("/v1/loans/{loan_id}/repayments", summary="Repay: due amounts in the policy's order, then prepayment")
    async def repay(loan_id: str, body: RepaymentRequest, key: str = IdempotencyKey) -> Response:
        return await attempt(lambda: book.repay(loan_id, body.amount, key, body.at))

    @router.post("/v1/loans/{loan_id}/write-off", summary="Write the loan off (its receivables become credit losses)")
    async def write_off(loan_id: str, body: WriteOffRequest, key: str = IdempotencyKey) -> Response:
        return await attempt(lambda: book.write_off(loan_id, key, body.at))

    return router
