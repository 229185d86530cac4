"""HTTP routes of human review (`/v1/reviews`): the user's requests and the reviewers' actions.

Refusals use the API's error shape `{"error": {"code", "message", "details"}}`: 404 for an
unknown review or user, 409 for a state conflict (wrong state, cooling-off, verification
missing), 429 for the yearly limit, 403 for separation of duties, 422 for anything outside
the policy's bounds. The acting reviewer is a body field until authentication arrives.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from lendguard.policy import Policy
from lendguard.reviews.documents import review_document
from lendguard.reviews.domain import LineChange, ReviewError
from lendguard.reviews.service import ReviewService, utcnow

STATUS_OF = {"not_found": 404, "conflict": 409, "limit": 429, "forbidden": 403, "invalid": 422}

Name = Field(min_length=1, max_length=128)


# ---- bodies ------------------------------------------------------------------------------------
class ReviewRequestIn(BaseModel):
    user_id: str = Name
    kind: Literal["user_request", "automated_refusal"] = "user_request"
    reason: str | None = Field(None, max_length=2000, description="The user's words.")


class R2ReviewIn(BaseModel):
    user_id: str = Name
    opened_by: str = Field("system", min_length=1, max_length=128, description="Who opens it; they may not review it.")


class UserActionIn(BaseModel):
    reason: str | None = Field(None, max_length=2000)


class TakeIn(BaseModel):
    reviewer: str = Name


class VerifyIn(BaseModel):
    reviewer: str = Name
    method: Literal["face", "sms", "document"]
    passed: bool


class LineChangeIn(BaseModel):
    system_line: Decimal = Field(ge=0, description="The system's credit line.")
    new_line: Decimal = Field(ge=0, description="The line the reviewer sets, within the policy's share of the system's.")


class DecideIn(BaseModel):
    reviewer: str = Name
    outcome: Literal["upheld", "overridden"]
    clear_checks: list[str] = Field(default_factory=list, description="Checks to clear (only the policy's overridable ones).")
    risk_level: Literal["R0", "R1", "R2", "R3"] | None = Field(None, description="Lower the user's risk level to this.")
    reason_code: str | None = Field(None, description="Required for an override: a key of policy reviews.override_reasons.")
    line_change: LineChangeIn | None = None
    note: str | None = Field(None, max_length=4000)


# ---- responses -------------------------------------------------------------------------------
class CheckSnapshotOut(BaseModel):
    status: str
    dimension: str
    measured: dict[str, Any]


class DecisionSnapshotOut(BaseModel):
    """The automated decision under review, as it stood when the review was opened."""

    user_id: str
    visible: bool
    as_of: str
    policy_version: str
    policy_sha256: str
    reason_codes: list[str]
    failed_dimensions: list[str]
    checks: dict[str, CheckSnapshotOut]


class RiskChangeOut(BaseModel):
    from_: str = Field(alias="from")
    to: str


class LineChangeOut(BaseModel):
    system_line: str
    new_line: str


class ChangesOut(BaseModel):
    cleared_checks: list[str]
    risk_level: RiskChangeOut | None = None
    line: LineChangeOut | None = None


class ActionOut(BaseModel):
    action_id: str
    review_id: str
    seq: int
    action: Literal["requested", "confirmed", "taken", "verified", "decided", "withdrawn"]
    actor: str
    at: str
    details: dict[str, Any]


class ReviewOut(BaseModel):
    review_id: str
    user_id: str
    kind: Literal["user_request", "automated_refusal", "r2_verification"]
    status: Literal["requested", "awaiting_confirmation", "in_review", "decided", "withdrawn"]
    requested_by: str
    requested_at: str
    reason: str | None
    touches_social_graph: bool
    confirmed_at: str | None
    opens_at: str | None = Field(description="When reviewers may take it (the end of the cooling-off).")
    reviewer: str | None
    taken_at: str | None
    decided_at: str | None
    outcome: Literal["upheld", "overridden"] | None
    reason_code: str | None
    changes: ChangesOut | None
    note: str | None
    withdrawn_at: str | None
    due_at: str
    overdue: bool
    decision: DecisionSnapshotOut


class ReviewDetailOut(ReviewOut):
    actions: list[ActionOut]


class ReviewListOut(BaseModel):
    reviews: list[ReviewOut]


class TallyOut(BaseModel):
    decided: int
    upheld: int
    overridden: int
    override_rate: float | None
    by_reason: dict[str, int]
    by_check: dict[str, int]
    risk_level_changes: dict[str, int]
    line_changes: int


class ReviewerRowOut(TallyOut):
    reviewer: str
    ratio_to_team: float | None
    decided_late: int
    in_review: int
    enough_sample: bool
    flagged: bool


class OverdueOut(BaseModel):
    review_id: str
    user_id: str
    kind: str
    status: str
    reviewer: str | None
    requested_at: str
    due_at: str
    days_overdue: float


class ReportOut(BaseModel):
    generated_at: str
    policy_version: str
    alert_ratio: float
    min_decided: int
    decide_within_days: int
    by_status: dict[str, int]
    team: TallyOut
    reviewers: list[ReviewerRowOut]
    flagged: list[str]
    overdue: list[OverdueOut]


def review_router(data_dir: Path, policy: Policy, decision_of: Callable[[str], dict | None], service: ReviewService | None = None) -> APIRouter:
    """The `/v1/reviews` routes over a data directory; `decision_of(user_id)` gives the decision under review."""
    from lendguard.api.app import ErrorResponse

    service = service or ReviewService.open(Path(data_dir), policy)
    router = APIRouter(prefix="/v1/reviews", tags=["reviews"])
    errors: dict[int | str, dict[str, Any]] = {code: {"model": ErrorResponse} for code in (403, 404, 409, 422, 429)}

    def refused(exc: ReviewError) -> JSONResponse:
        body = {"error": {"code": exc.code, "message": exc.message, "details": [exc.details] if exc.details else []}}
        return JSONResponse(status_code=STATUS_OF[exc.kind], content=body)

    def unknown_user(user_id: str) -> JSONResponse:
        return refused(ReviewError("unknown_user", f"no events for user {user_id!r}", "not_found", user_id=user_id))

    def document(review_id: str, with_actions: bool = False) -> dict[str, Any]:
        review = service.get(review_id)
        return review_document(review, policy, utcnow(), service.actions(review_id) if with_actions else None)

    @router.post("", status_code=201, response_model=ReviewOut, responses=errors, summary="The user asks for a human review")
    def request_review(body: ReviewRequestIn) -> Any:
        """A re-review (`user_request`) or a refusal of the automated decision (`automated_refusal`) of the
        user's current decision; at most `reviews.max_user_reviews_per_year` per calendar year (429 beyond)."""
        decision = decision_of(body.user_id)
        if decision is None:
            return unknown_user(body.user_id)
        try:
            review = service.request(body.user_id, decision, kind=body.kind, reason=body.reason)
        except ReviewError as exc:
            return refused(exc)
        return document(review.review_id)

    @router.post("/r2", status_code=201, response_model=ReviewOut, responses=errors, summary="Open the review a user at R2 needs")
    def open_r2(body: R2ReviewIn) -> Any:
        decision = decision_of(body.user_id)
        if decision is None:
            return unknown_user(body.user_id)
        try:
            review = service.open_r2(body.user_id, decision, opened_by=body.opened_by)
        except ReviewError as exc:
            return refused(exc)
        return document(review.review_id)

    @router.get("", response_model=ReviewListOut, summary="Reviews, oldest first")
    def list_reviews(
        status: str | None = Query(None),
        user_id: str | None = Query(None),
        kind: str | None = Query(None),
        reviewer: str | None = Query(None),
    ) -> Any:
        now = utcnow()
        found = service.find(status=status, user_id=user_id, kind=kind, reviewer=reviewer)
        return {"reviews": [review_document(r, policy, now) for r in found]}

    @router.get("/report", response_model=ReportOut, summary="Overrides per reviewer against the team, and overdue reviews")
    def report(min_decided: int | None = Query(None, ge=1, description="Decided reviews a reviewer needs before being flagged (default: the policy's).")) -> Any:
        return service.report(min_decided=min_decided)

    @router.get("/{review_id}", response_model=ReviewDetailOut, responses=errors, summary="One review with its action log")
    def get_review(review_id: str) -> Any:
        try:
            return document(review_id, with_actions=True)
        except ReviewError as exc:
            return refused(exc)

    def act(operation: Callable[[], Any], review_id: str) -> Any:
        try:
            operation()
        except ReviewError as exc:
            return refused(exc)
        return document(review_id, with_actions=True)

    @router.post("/{review_id}/confirm", response_model=ReviewDetailOut, responses=errors, summary="The user's second confirmation")
    def confirm(review_id: str) -> Any:
        """Needed when the review touches the user's social graph; the cooling-off starts now."""
        return act(lambda: service.confirm(review_id), review_id)

    @router.post("/{review_id}/take", response_model=ReviewDetailOut, responses=errors, summary="A reviewer takes the review")
    def take(review_id: str, body: TakeIn) -> Any:
        return act(lambda: service.take(review_id, body.reviewer), review_id)

    @router.post("/{review_id}/verify", response_model=ReviewDetailOut, responses=errors, summary="Record a second verification")
    def verify(review_id: str, body: VerifyIn) -> Any:
        return act(lambda: service.verify(review_id, body.reviewer, body.method, body.passed), review_id)

    @router.post("/{review_id}/decide", response_model=ReviewDetailOut, responses=errors, summary="Uphold or override")
    def decide(review_id: str, body: DecideIn) -> Any:
        """Only the reviewer who took the review; overrides within `reviews.bounds` and with a reason code."""
        line = None if body.line_change is None else LineChange(body.line_change.system_line, body.line_change.new_line)
        return act(
            lambda: service.decide(
                review_id,
                body.reviewer,
                body.outcome,
                clear_checks=body.clear_checks,
                risk_level=body.risk_level,
                line_change=line,
                reason_code=body.reason_code,
                note=body.note,
            ),
            review_id,
        )

    @router.post("/{review_id}/withdraw", response_model=ReviewDetailOut, responses=errors, summary="The user withdraws the review")
    def withdraw(review_id: str, body: UserActionIn | None = None) -> Any:
        return act(lambda: service.withdraw(review_id, reason=None if body is None else body.reason), review_id)

    return router
