"""The rules a review obeys, as pure functions of the review, the policy and a given time.

Every number comes from `policy.reviews`; each rule either returns what it allows
or raises a `ReviewError` naming the rule, so the service and the entry points
never re-state a bound.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal
from zoneinfo import ZoneInfo

from lendguard.policy import Policy
from lendguard.reviews.domain import (
    CLEARABLE_STATUSES,
        OUTCOMES,
    RISK_LEVELS,
    SOCIAL_TOUCH_STATUSES,
    Changes,
    DecisionSnapshot,
    LineChange,
    Review,
    ReviewError,
    RiskChange,
)
from lendguard.visibility.dimensions import ALL_CHECKS

CHECK_CODES: frozenset[str] = frozenset(check.code for check in ALL_CHECKS)


# ---- the yearly limit -------------------------------------------------------------------
def local_year(moment: dt.datetime, policy: Policy) -> int:
    """The calendar year of a moment in the policy's time zone."""
    return _aware(moment).astimezone(ZoneInfo(policy.timezone)).year


def year_start(year: int, policy: Policy) -> dt.datetime:
    """Midnight of 1 January of `year` in the policy's time zone, as UTC."""
    return dt.datetime(year, 1, 1, tzinfo=ZoneInfo(policy.timezone)).astimezone(dt.timezone.utc)


def check_yearly_limit(used: int, now: dt.datetime, policy: Policy) -> int:
    """The sequence number (1-based) of a new user-initiated review this year, or a refusal."""
    limit = policy.reviews.max_user_reviews_per_year
    if used < limit:
        return used + 1
    year = local_year(now, policy)
    if limit == 0:
        raise ReviewError("review_limit_reached", "the policy allows no user-initiated reviews", "limit", limit=0, used=used)
    next_at = year_start(year + 1, policy)
    local = next_at.astimezone(ZoneInfo(policy.timezone))
    raise ReviewError(
        "review_limit_reached",
        f"at most {limit} user-initiated reviews per calendar year ({policy.timezone}); "
        f"{used} already requested in {year}; the next is possible from {local.isoformat()}",
        "limit",
        limit=limit,
        used=used,
        year=year,
        next_allowed_at=next_at.isoformat(),
    )


# ---- cooling-off for reviews touching the social graph ------------------------------------
def touches_social_graph(snapshot: DecisionSnapshot, policy: Policy) -> bool:
    """Whether reviewing this decision reads social-graph data (a social check failed or warned)."""
    return any(snapshot.status_of(code) in SOCIAL_TOUCH_STATUSES for code in policy.reviews.social_graph_checks)


def initial_status(touches: bool) -> str:
    """A review touching the social graph waits for the user's second confirmation first."""
    return "awaiting_confirmation" if touches else "requested"


def cooling_off_end(confirmed_at: dt.datetime, policy: Policy) -> dt.datetime:
    return _aware(confirmed_at) + dt.timedelta(hours=policy.reviews.social_graph_cooling_off_hours)


# ---- state transitions --------------------------------------------------------------------
def _wrong_status(review: Review, doing: str, expected: Iterable[str]) -> ReviewError:
    wanted = " or ".join(expected)
    return ReviewError(
        "invalid_state",
        f"review {review.review_id} is {review.status}; it can be {doing} only when {wanted}",
        "conflict",
        review_id=review.review_id,
        status=review.status,
    )


def check_confirm(review: Review, actor: str) -> None:
    """Only the user confirms (the second confirmation), and only while it is awaited."""
    if actor != review.user_id:
        raise ReviewError("not_the_user", f"only user {review.user_id} can confirm review {review.review_id}", "forbidden")
    if review.status != "awaiting_confirmation":
        raise _wrong_status(review, "confirmed", ["awaiting_confirmation"])


def check_not_own(review: Review, reviewer: str) -> None:
    """Separation of duties: nobody reviews their own request or their own decision."""
    if not reviewer.strip():
        raise ReviewError("reviewer_required", "a reviewer name is required", "invalid")
    if reviewer in {review.requested_by, review.user_id}:
        raise ReviewError(
            "own_request",
            f"{reviewer} requested review {review.review_id} (or is its subject) and may not review it",
            "forbidden",
            review_id=review.review_id,
        )


def check_take(review: Review, reviewer: str, now: dt.datetime) -> None:
    """A reviewer takes a queued review once the user confirmed and the cooling-off ended."""
    check_not_own(review, reviewer)
    if review.status == "awaiting_confirmation":
        raise ReviewError(
            "awaiting_confirmation",
            f"review {review.review_id} touches the user's social graph and waits for the user's second confirmation",
            "conflict",
            review_id=review.review_id,
        )
    if review.status != "requested":
        raise _wrong_status(review, "taken", ["requested"])
    if review.opens_at is not None and _aware(now) < review.opens_at:
        raise ReviewError(
            "cooling_off",
            f"review {review.review_id} touches the user's social graph: cooling-off until {review.opens_at.isoformat()}",
            "conflict",
            review_id=review.review_id,
            opens_at=review.opens_at.isoformat(),
        )


def check_assigned(review: Review, reviewer: str, doing: str) -> None:
    """Only the reviewer who took a review records its verification or decides it."""
    if review.status != "in_review":
        raise _wrong_status(review, doing, ["in_review"])
    if reviewer != review.reviewer:
        raise ReviewError(
            "not_assigned_reviewer",
            f"review {review.review_id} was taken by {review.reviewer}; only that reviewer may have it {doing}",
            "forbidden",
            review_id=review.review_id,
            reviewer=review.reviewer,
        )


def check_withdraw(review: Review, actor: str) -> None:
    if actor != review.user_id:
        raise ReviewError("not_the_user", f"only user {review.user_id} can withdraw review {review.review_id}", "forbidden")
    if not review.is_open:
        raise _wrong_status(review, "withdrawn", ["requested", "awaiting_confirmation", "in_review"])


# ---- bounds of a decision ------------------------------------------------------------------
def check_clear_checks(codes: Iterable[str], snapshot: DecisionSnapshot, policy: Policy) -> tuple[str, ...]:
    """Checks a reviewer clears: known, overridable by policy, and not passed in the decision."""
    allowed = set(policy.reviews.bounds.overridable_checks)
    cleared: list[str] = []
    for code in codes:
        if code in cleared:
            continue
        if code not in CHECK_CODES:
            raise ReviewError("unknown_check", f"no check {code!r}", "invalid", check=code)
        if code not in allowed:
            raise ReviewError(
                "not_overridable",
                f"check {code} cannot be overridden by a reviewer (overridable: {', '.join(sorted(allowed))})",
                "invalid",
                check=code,
            )
        status = snapshot.status_of(code)
        if status not in CLEARABLE_STATUSES:
            raise ReviewError(
                "check_not_failing", f"check {code} is {status} in the decision under review: nothing to clear", "invalid", check=code
            )
        cleared.append(code)
    return tuple(cleared)


def check_risk_change(current: str, new: str, verified: bool, policy: Policy) -> RiskChange:
    """A lowered risk level: never from R3, at most `max_risk_steps_down`, R2 after verification."""
    bounds = policy.reviews.bounds
    if new not in RISK_LEVELS:
        raise ReviewError("unknown_risk_level", f"unknown risk level {new!r}; one of {', '.join(RISK_LEVELS)}", "invalid")
    rank_now, rank_new = RISK_LEVELS.index(current), RISK_LEVELS.index(new)
    if rank_new == rank_now:
        raise ReviewError("risk_level_unchanged", f"the user is already at {current}", "invalid", current=current)
    if rank_new > rank_now:
        raise ReviewError(
            "risk_level_raise", f"a review may only lower a risk level ({current} -> {new}); raising is the fraud engine's", "invalid"
        )
    if current == "R3":
        raise ReviewError("risk_level_permanent", "R3 is permanent: no review lowers it", "invalid", current=current)
    steps = rank_now - rank_new
    if steps > bounds.max_risk_steps_down:
        raise ReviewError(
            "risk_steps_exceeded",
            f"{current} -> {new} is {steps} steps down; a reviewer may lower at most {bounds.max_risk_steps_down}",
            "invalid",
            max_steps=bounds.max_risk_steps_down,
        )
    if current == "R2" and bounds.r2_needs_verification and not verified:
        raise ReviewError(
            "verification_required", "lowering R2 needs a passed second verification recorded on this review first", "conflict"
        )
    return RiskChange(current, new)


def line_change_bounds(system_line: Decimal, policy: Policy) -> tuple[Decimal, Decimal]:
    """The lowest and highest line a reviewer may set: the system's line ± the policy share."""
    share = Decimal(str(policy.reviews.bounds.max_line_change_share))
    return system_line - system_line * share, system_line + system_line * share


def check_line_change(system_line: Decimal, new_line: Decimal, policy: Policy) -> LineChange:
    """A credit-line adjustment within ±`max_line_change_share` of the system's line, or a refusal."""
    if not system_line.is_finite() or not new_line.is_finite() or system_line < 0 or new_line < 0:
        raise ReviewError("invalid_line", "credit lines must be finite amounts >= 0", "invalid")
    low, high = line_change_bounds(system_line, policy)
    if not low <= new_line <= high:
        share = policy.reviews.bounds.max_line_change_share
        raise ReviewError(
            "line_change_out_of_bounds",
            f"a reviewer may set the line within ±{share:.0%} of the system's {system_line}: {low}..{high}, not {new_line}",
            "invalid",
            system_line=str(system_line),
            new_line=str(new_line),
            low=str(low),
            high=str(high),
        )
    return LineChange(system_line, new_line)


def check_reason_code(outcome: str, reason_code: str | None, policy: Policy) -> None:
    """An override names a reason from `policy.reviews.override_reasons`; upholding needs none."""
    if outcome not in OUTCOMES:
        raise ReviewError("unknown_outcome", f"outcome must be one of {', '.join(OUTCOMES)}", "invalid")
    known = policy.reviews.override_reasons
    if reason_code is None:
        if outcome == "overridden":
            raise ReviewError(
                "reason_required", f"an override needs a reason code: one of {', '.join(sorted(known))}", "invalid"
            )
        return
    if reason_code not in known:
        raise ReviewError(
            "unknown_reason_code", f"unknown reason code {reason_code!r}; one of {', '.join(sorted(known))}", "invalid"
        )


def plan_decision(
    review: Review,
    outcome: str,
    policy: Policy,
    *,
    clear_checks: Iterable[str] = (),
    current_risk: str = "R0",
    risk_level: str | None = None,
    verified: bool = False,
    line_change: LineChange | None = None,
    reason_code: str | None = None,
) -> Changes:
    """Everything a decision changes, checked against every bound; refused as a whole otherwise."""
    check_reason_code(outcome, reason_code, policy)
    cleared = check_clear_checks(clear_checks, review.decision, policy)
    risk = None if risk_level is None else check_risk_change(current_risk, risk_level, verified, policy)
    line = None if line_change is None else check_line_change(line_change.system_line, line_change.new_line, policy)
    changes = Changes(cleared, risk, line)
    if outcome == "upheld" and not changes.empty:
        raise ReviewError("upheld_with_changes", "an upheld decision changes nothing: use outcome 'overridden'", "invalid")
    if outcome == "overridden" and changes.empty:
        raise ReviewError(
            "override_without_change", "an override must clear a check, lower the risk level or change the line", "invalid"
        )
    return changes


def risk_recovers_at(level: str, now: dt.datetime, policy: Policy) -> dt.datetime | None:
    """An R1 set by a reviewer recovers like any R1, after `r1_recovery_days`."""
    if level != "R1":
        return None
    return _aware(now) + dt.timedelta(days=policy.visibility.anti_fraud.r1_recovery_days)


# ---- deadlines -------------------------------------------------------------------------------
def due_at(review: Review, policy: Policy) -> dt.datetime:
    return review.requested_at + dt.timedelta(days=policy.reviews.decide_within_days)


def is_overdue(review: Review, now: dt.datetime, policy: Policy) -> bool:
    """Open past its deadline while the lender, not the user, holds it (not awaiting confirmation)."""
    return review.status in {"requested", "in_review"} and _aware(now) > due_at(review, policy)


def decided_late(review: Review, policy: Policy) -> bool:
    return review.decided_at is not None and review.decided_at > due_at(review, policy)


def _aware(moment: dt.datetime) -> dt.datetime:
    if moment.tzinfo is None:
        raise ValueError(f"a time-zone-aware time is required, got {moment!r}")
    return moment
