"""Property: following the advice of a failing check makes that check (and its dimension) pass."""

from __future__ import annotations

import datetime as dt

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import AS_OF, UserBuilder, as_of, decide, frames_of

from lendguard.policy import load_policy
from lendguard.visibility.check import DIMENSIONS, PASS, WARN
from lendguard.visibility.counterfactual import WAIT_KINDS, apply_advice
from lendguard.visibility.decision import DecisionRenderer
from lendguard.visibility.dimensions import active_checks

POLICY = load_policy()
ASOF = as_of(POLICY)
RENDERER = DecisionRenderer(POLICY, ASOF)
ALL_CHECKS = active_checks(POLICY)  # CR05 has its own flip test (test_credit_score_check.py)

users = st.builds(
    UserBuilder,
    payments_per_month=st.integers(0, 30),
    offline_every=st.integers(0, 6),
    night_payments=st.integers(0, 40),
    bills=st.integers(0, 2),
    red_in=st.integers(0, 25),
    red_out=st.integers(0, 3),
    debit_banks=st.integers(0, 4),
    face=st.booleans(),
    id_front=st.booleans(),
    id_back=st.booleans(),
    card_repayments=st.integers(0, 2),
    wealth=st.one_of(st.none(), st.tuples(st.sampled_from(["10.00", "999.99", "1000.00", "25000.00"]), st.integers(1, 200))),
    bureau=st.sampled_from(["shared", "refused", "absent"]),
    bureau_queries=st.integers(0, 20),
    history_years=st.floats(0.2, 8.0),
    contacts=st.integers(0, 30),
    risky_contacts=st.integers(0, 30),
    phone_province=st.sampled_from([None, "Hunan"]),
    ip_province=st.sampled_from([None, "Hubei"]),
    version=st.sampled_from(["8.0.18", "8.0.25", "8.0.35", "8.0.45"]),
    devices=st.integers(1, 3),
    logins=st.integers(1, 14),
    security=st.fixed_dictionaries(
        {
            "rooted": st.booleans(),
            "modified_client": st.booleans(),
            "malware": st.booleans(),
            "unknown_sources": st.booleans(),
            "failed_minor_checks": st.integers(0, 25),
        }
    ),
    clean_reports=st.integers(0, 3),
    risky_wifi_reports=st.integers(0, 4),
    id_expiry=st.sampled_from([None, dt.date(2030, 1, 1), dt.date(2026, 10, 1), dt.date(2025, 1, 1)]),
)


def _advice_of(row, code):
    check = next(c for c in ALL_CHECKS if c.code == code)
    return RENDERER.check_result(check, row)["advice"]


def _flippable(advice) -> bool:
    return advice is not None and advice["fixable"] and advice["kind"] not in WAIT_KINDS


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(users)
def test_following_a_checks_advice_flips_it(builder):
    frames = builder.frames()
    row = decide(frames)
    for check in ALL_CHECKS:
        if row[check.code] in (PASS, WARN):
            continue
        advice = _advice_of(row, check.code)
        if not _flippable(advice):
            continue
        changed = decide(apply_advice(frames, advice, row, ASOF))
        assert changed[check.code] in (PASS, WARN), (check.code, advice, row[check.code], changed[check.code])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(users)
def test_following_all_advice_of_a_dimension_makes_it_pass(builder):
    """A user who follows every piece of advice for a dimension, asking again after each
    round (advice is re-issued on the changed behaviour), gets the dimension within 3 rounds."""
    frames = builder.frames()
    start = decide(frames)
    for dimension in DIMENSIONS:
        current_frames, row = frames, start
        for round_number in range(4):
            if row[f"dim_{dimension}"] in (PASS, WARN):
                break
            failing = [c for c in ALL_CHECKS if c.dimension == dimension and row[c.code] not in (PASS, WARN)]
            advices = [_advice_of(row, c.code) for c in failing]
            if not all(_flippable(a) for a in advices):
                break  # a note or a wait: nothing to apply to the events
            assert round_number < 3, (dimension, {c.code: row[c.code] for c in failing}, advices)
            for advice in advices:
                current_frames = apply_advice(current_frames, advice, row, ASOF)
            row = decide(current_frames)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(users)
def test_waiting_the_advised_days_flips_time_based_checks(builder):
    frames = builder.frames()
    row = decide(frames)
    for code in ("CR03", "DS04"):
        if row[code] != "fail":
            continue
        advice = _advice_of(row, code)
        if advice is None or advice["kind"] not in WAIT_KINDS:
            continue
        later = decide(frames, at=AS_OF + dt.timedelta(days=advice["params"]["days"]))
        assert later[code] == PASS, (code, advice, later[code])


def test_advice_is_the_smallest_change_for_counted_checks():
    """One fewer than the advised count does not flip the check (the advice is minimal)."""
    builder = UserBuilder(payments_per_month=10, offline_count=5, debit_banks=1)
    frames = builder.frames()
    row = decide(frames)
    for code, key in (("CR01", "per_month"), ("PB01", "count"), ("KY01", "count")):
        advice = _advice_of(row, code)
        smaller = {**advice, "params": {**advice["params"], key: advice["params"][key] - 1}}
        assert decide(apply_advice(frames, smaller, row, ASOF))[code] not in (PASS, WARN), code
        assert decide(apply_advice(frames, advice, row, ASOF))[code] in (PASS, WARN), code


def test_frames_helper_roundtrip():
    assert sum(f.height for f in frames_of(UserBuilder().events()).values()) == len(UserBuilder().events())
