"""Properties of the reviewer's bounds: the credit-line share, risk-level steps, overridable checks, the yearly limit."""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal
from fractions import Fraction
from functools import cache

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_reviews import POLICY, decision_doc, policy_with

from lendguard.policy import Policy
from lendguard.reviews.domain import RISK_LEVELS, DecisionSnapshot, ReviewError
from lendguard.reviews.rules import (
    CHECK_CODES,
    check_clear_checks,
    check_line_change,
    check_risk_change,
    check_yearly_limit,
    line_change_bounds,
    local_year,
)

SHARES = (0.0, 0.05, 0.2, 0.333, 1.0)


@cache
def policy_for(share: float = 0.2, max_steps: int = 2, needs_verification: bool = True) -> Policy:
    return policy_with(
        {"bounds.max_line_change_share": share, "bounds.max_risk_steps_down": max_steps, "bounds.r2_needs_verification": needs_verification}
    )


money = st.decimals(min_value=0, max_value=Decimal("10000000"), places=2, allow_nan=False, allow_infinity=False)


def allowed(system: Decimal, new: Decimal, policy: Policy) -> bool:
    try:
        check_line_change(system, new, policy)
    except ReviewError as exc:
        assert exc.code == "line_change_out_of_bounds" and exc.kind == "invalid"
        return False
    return True


@settings(max_examples=400, deadline=None)
@given(system=money, new=money, share=st.sampled_from(SHARES))
def test_a_line_is_allowed_exactly_within_the_share_of_the_system_line(system, new, share):
    policy = policy_for(share)
    # The oracle, in exact rational arithmetic: |new - system| <= share * system.
    expected = abs(Fraction(new) - Fraction(system)) <= Fraction(str(share)) * Fraction(system)
    assert allowed(system, new, policy) == expected


@settings(max_examples=200, deadline=None)
@given(system=money, fraction=st.fractions(min_value=0, max_value=1, max_denominator=1000), share=st.sampled_from(SHARES))
def test_the_bound_is_symmetric_and_inclusive(system, fraction, share):
    policy = policy_for(share)
    low, high = line_change_bounds(system, policy)
    assert allowed(system, low, policy) and allowed(system, high, policy) and allowed(system, system, policy)
    # Any line between the system's and an allowed line is allowed too, up or down.
    step = (high - system) * Decimal(fraction.numerator) / Decimal(fraction.denominator)
    assert allowed(system, system + step, policy) and allowed(system, system - step, policy)
    # A cent beyond either end is refused.
    assert not allowed(system, high + Decimal("0.01"), policy)
    if low >= Decimal("0.01"):
        assert not allowed(system, low - Decimal("0.01"), policy)


def test_negative_or_non_finite_lines_are_invalid():
    for system, new in ((Decimal("-1"), Decimal("1")), (Decimal("1"), Decimal("-1")), (Decimal("NaN"), Decimal("1")), (Decimal("Infinity"), Decimal("1"))):
        with pytest.raises(ReviewError) as caught:
            check_line_change(system, new, POLICY)
        assert caught.value.code == "invalid_line"


@pytest.mark.parametrize("max_steps", [0, 1, 2, 3])
@pytest.mark.parametrize("needs_verification", [True, False])
def test_risk_changes_over_every_combination(max_steps, needs_verification):
    policy = policy_for(max_steps=max_steps, needs_verification=needs_verification)
    for current, new, verified in itertools.product(RISK_LEVELS, RISK_LEVELS, (True, False)):
        down = RISK_LEVELS.index(current) - RISK_LEVELS.index(new)
        expected = (
            down > 0
            and current != "R3"
            and down <= max_steps
            and not (current == "R2" and needs_verification and not verified)
        )
        try:
            change = check_risk_change(current, new, verified, policy)
        except ReviewError:
            assert not expected, (current, new, verified)
        else:
            assert expected and (change.from_level, change.to_level) == (current, new), (current, new, verified)


statuses = st.sampled_from(["pass", "warn", "fail", "not_assessable"])


@settings(max_examples=300, deadline=None)
@given(
    decision=st.dictionaries(st.sampled_from(sorted(CHECK_CODES)), statuses, max_size=12),
    cleared=st.lists(st.sampled_from(sorted(CHECK_CODES) + ["XX01"]), max_size=5),
)
def test_a_check_is_cleared_only_if_overridable_and_not_passed(decision, cleared):
    snapshot = DecisionSnapshot.of(decision_doc("u1", decision))
    overridable = set(POLICY.reviews.bounds.overridable_checks)
    expected = all(code in overridable and decision.get(code, "pass") in {"fail", "not_assessable"} for code in cleared)
    try:
        result = check_clear_checks(cleared, snapshot, POLICY)
    except ReviewError as exc:
        assert not expected and exc.code in {"unknown_check", "not_overridable", "check_not_failing"}
    else:
        assert expected and list(result) == list(dict.fromkeys(cleared))


@settings(max_examples=300, deadline=None)
@given(moment=st.datetimes(min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2100, 1, 1), timezones=st.just(dt.timezone.utc)), used=st.integers(0, 5))
def test_the_yearly_limit_and_its_next_date(moment, used):
    limit = POLICY.reviews.max_user_reviews_per_year
    try:
        seat = check_yearly_limit(used, moment, POLICY)
    except ReviewError as exc:
        assert used >= limit
        next_at = dt.datetime.fromisoformat(exc.details["next_allowed_at"])
        assert next_at > moment and local_year(next_at, POLICY) == local_year(moment, POLICY) + 1
        assert local_year(next_at - dt.timedelta(microseconds=1), POLICY) == local_year(moment, POLICY)
    else:
        assert used < limit and seat == used + 1
