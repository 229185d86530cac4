"""Human reviews: the yearly limit, cooling-off, separation of duties, bounds, the action log and evidence, risk states, the report."""

from __future__ import annotations

import datetime as dt
import json
import tomllib
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import insert, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.schema import CreateTable

from lendguard.evidence import EvidenceLog, load_sources, record_hash
from lendguard.policy import Policy, default_policy_path, load_policy
from lendguard.policy.loader import policy_from_mapping
from lendguard.reviews import (
    LineChange,
    ReviewError,
    ReviewService,
    active_check_overrides,
)
from lendguard.reviews import store as db
from lendguard.reviews.domain import Review
from lendguard.reviews.report import build_report
from lendguard.store.catalog import risk_states
from lendguard.visibility.dimensions import ALL_CHECKS

POLICY = load_policy()
T0 = dt.datetime(2026, 11, 25, 2, 0, tzinfo=dt.timezone.utc)
HOUR = dt.timedelta(hours=1)
DAY = dt.timedelta(days=1)


# ---- helpers (also used by the other test_reviews_* files) ---------------------------------------
def decision_doc(user_id: str, statuses: dict[str, str] | None = None, policy: Policy = POLICY) -> dict:
    """A decision document shaped like `VisibilityService.decision`: every check, the given ones not passing."""
    statuses = statuses or {}
    dimensions: dict[str, list[dict]] = {}
    for check in ALL_CHECKS:
        status = statuses.get(check.code, "pass")
        dimensions.setdefault(check.dimension, []).append({"code": check.code, "name": check.name, "status": status, "measured": {"x": 1}})
    reason_codes = [code for code, status in statuses.items() if status in {"fail", "not_assessable"}]
    failed = [d for d, checks in dimensions.items() if any(c["status"] in {"fail", "not_assessable"} for c in checks)]
    return {
        "user_id": user_id,
        "visible": not reason_codes,
        "as_of": "2026-11-24T00:00:00+00:00",
        "policy_version": policy.version,
        "policy_sha256": policy.sha256,
        "reason_codes": reason_codes,
        "failed_dimensions": failed,
        "dimensions": [{"dimension": d, "status": "pass", "checks": checks} for d, checks in dimensions.items()],
    }


def policy_with(changes: dict) -> Policy:
    """The default policy with some `reviews` keys changed (dotted: 'bounds.max_risk_steps_down')."""
    data = tomllib.loads(default_policy_path().read_text(encoding="utf-8"))
    for key, value in changes.items():
        target = data["reviews"]
        *path, last = key.split(".")
        for part in path:
            target = target[part]
        target[last] = value
    return policy_from_mapping(data, json.dumps(data, sort_keys=True, default=str).encode(), default_policy_path())


def set_risk(service: ReviewService, user_id: str, level: str) -> None:
    with service.engine.begin() as conn:
        conn.execute(insert(risk_states).values(user_id=user_id, level=level, since=T0 - DAY, rule_id="test"))


def refused(code: str, call, *args, **kwargs) -> ReviewError:
    with pytest.raises(ReviewError) as caught:
        call(*args, **kwargs)
    assert caught.value.code == code, caught.value
    return caught.value


@pytest.fixture
def service(tmp_path: Path) -> ReviewService:
    return ReviewService.open(tmp_path, POLICY)


def in_review(service: ReviewService, user_id: str, statuses: dict[str, str], reviewer: str = "alice", now: dt.datetime = T0) -> Review:
    review = service.request(user_id, decision_doc(user_id, statuses), now=now)
    if review.status == "awaiting_confirmation":
        review = service.confirm(review.review_id, now=now)
        return service.take(review.review_id, reviewer, now=review.opens_at)
    return service.take(review.review_id, reviewer, now=now + HOUR)


# ---- opening a review --------------------------------------------------------------------------
def test_a_review_snapshots_the_decision_under_review(service):
    review = service.request("u1", decision_doc("u1", {"KY01": "fail", "DS04": "fail", "PB01": "warn"}), reason="my ID is valid", now=T0)
    assert review.status == "requested" and review.kind == "user_request" and review.requested_by == "u1"
    snapshot = review.decision
    assert snapshot.reason_codes == ("KY01", "DS04") and not snapshot.visible
    assert set(snapshot.checks) == {"KY01", "DS04", "PB01"} and snapshot.checks["PB01"]["status"] == "warn"
    assert snapshot.policy_sha256 == POLICY.sha256 and snapshot.as_of == "2026-11-24T00:00:00+00:00"
    assert service.find(user_id="u1")[0].decision == snapshot  # read back from the row


def test_a_decision_about_someone_else_is_refused(service):
    refused("decision_mismatch", service.request, "u1", decision_doc("u2"), now=T0)


def test_r2_verification_is_not_a_user_request(service):
    refused("invalid_kind", service.request, "u1", decision_doc("u1"), kind="r2_verification", now=T0)


def test_one_open_user_review_at_a_time(service):
    first = service.request("u1", decision_doc("u1"), now=T0)
    error = refused("review_already_open", service.request, "u1", decision_doc("u1"), kind="automated_refusal", now=T0 + HOUR)
    assert error.kind == "conflict" and error.details["review_id"] == first.review_id


# ---- the yearly limit ------------------------------------------------------------------------------
def request_and_withdraw(service: ReviewService, user_id: str, at: dt.datetime, kind: str = "user_request") -> Review:
    review = service.request(user_id, decision_doc(user_id), kind=kind, now=at)
    return service.withdraw(review.review_id, now=at + HOUR)


def test_third_request_in_a_calendar_year_is_refused_with_the_next_possible_date(service):
    request_and_withdraw(service, "u1", dt.datetime(2026, 3, 1, tzinfo=dt.timezone.utc))
    request_and_withdraw(service, "u1", dt.datetime(2026, 6, 1, tzinfo=dt.timezone.utc), kind="automated_refusal")
    error = refused("review_limit_reached", service.request, "u1", decision_doc("u1"), now=dt.datetime(2026, 9, 1, tzinfo=dt.timezone.utc))
    assert error.kind == "limit"
    # 1 January 2027 in Asia/Shanghai is 31 December 2026, 16:00 UTC.
    assert error.details["next_allowed_at"] == "2026-12-31T16:00:00+00:00"
    assert "2027-01-01T00:00:00+08:00" in error.message and error.details["used"] == 2
    # Another user is not affected; next year the user may ask again.
    service.request("u2", decision_doc("u2"), now=dt.datetime(2026, 9, 1, tzinfo=dt.timezone.utc))
    assert service.request("u1", decision_doc("u1"), now=dt.datetime(2027, 1, 5, tzinfo=dt.timezone.utc)).status == "requested"


def test_the_calendar_year_is_the_policy_time_zones(service):
    request_and_withdraw(service, "u1", dt.datetime(2026, 2, 1, tzinfo=dt.timezone.utc))
    request_and_withdraw(service, "u1", dt.datetime(2026, 12, 31, 15, 0, tzinfo=dt.timezone.utc))  # 23:00 in Shanghai: still 2026
    # 2026-12-31T17:00Z is 01:00 on 1 January 2027 in Shanghai: a new year.
    request_and_withdraw(service, "u1", dt.datetime(2026, 12, 31, 17, 0, tzinfo=dt.timezone.utc))
    request_and_withdraw(service, "u1", dt.datetime(2027, 3, 1, tzinfo=dt.timezone.utc))
    error = refused("review_limit_reached", service.request, "u1", decision_doc("u1"), now=dt.datetime(2027, 12, 31, 15, 59, tzinfo=dt.timezone.utc))
    assert error.details["year"] == 2027
    assert service.request("u1", decision_doc("u1"), now=dt.datetime(2027, 12, 31, 16, 0, tzinfo=dt.timezone.utc)).status == "requested"


def test_r2_reviews_do_not_use_the_users_quota(service):
    request_and_withdraw(service, "u1", T0)
    request_and_withdraw(service, "u1", T0 + DAY)
    set_risk(service, "u1", "R2")
    assert service.open_r2("u1", decision_doc("u1", {"AF01": "fail"}), opened_by="risk-bot", now=T0 + 2 * DAY).kind == "r2_verification"


def test_the_limit_comes_from_the_policy(tmp_path):
    service = ReviewService.open(tmp_path, policy_with({"max_user_reviews_per_year": 1}))
    request_and_withdraw(service, "u1", T0)
    assert refused("review_limit_reached", service.request, "u1", decision_doc("u1"), now=T0 + DAY).details["limit"] == 1


# ---- cooling-off -----------------------------------------------------------------------------------
def test_a_review_touching_the_social_graph_needs_confirmation_then_cools_off(service):
    review = service.request("u1", decision_doc("u1", {"CR04": "fail", "KY01": "fail"}), now=T0)
    assert review.touches_social_graph and review.status == "awaiting_confirmation"
    refused("awaiting_confirmation", service.take, review.review_id, "alice", now=T0 + 2 * DAY)
    refused("not_the_user", service.confirm, review.review_id, actor="alice", now=T0)
    confirmed = service.confirm(review.review_id, now=T0 + 3 * HOUR)
    assert confirmed.status == "requested" and confirmed.opens_at == T0 + 27 * HOUR
    error = refused("cooling_off", service.take, review.review_id, "alice", now=T0 + 27 * HOUR - dt.timedelta(seconds=1))
    assert error.kind == "conflict" and error.details["opens_at"] == (T0 + 27 * HOUR).isoformat()
    assert service.take(review.review_id, "alice", now=T0 + 27 * HOUR).status == "in_review"
    refused("invalid_state", service.confirm, review.review_id, now=T0 + 28 * HOUR)


def test_a_warning_on_a_social_check_also_touches_it_and_other_checks_do_not(service):
    assert service.request("u1", decision_doc("u1", {"PB04": "warn"}), now=T0).status == "awaiting_confirmation"
    plain = service.request("u2", decision_doc("u2", {"KY01": "fail", "PB01": "warn"}), now=T0)
    assert plain.status == "requested" and not plain.touches_social_graph
    assert service.take(plain.review_id, "alice", now=T0).status == "in_review"


def test_cooling_off_hours_come_from_the_policy(tmp_path):
    service = ReviewService.open(tmp_path, policy_with({"social_graph_cooling_off_hours": 2.5, "social_graph_checks": ["KY01"]}))
    review = service.request("u1", decision_doc("u1", {"KY01": "fail"}), now=T0)
    service.confirm(review.review_id, now=T0)
    refused("cooling_off", service.take, review.review_id, "alice", now=T0 + 2 * HOUR)
    assert service.take(review.review_id, "alice", now=T0 + 150 * dt.timedelta(minutes=1)).status == "in_review"


# ---- separation of duties --------------------------------------------------------------------------
def test_only_the_reviewer_who_took_it_decides_or_verifies(service):
    review = in_review(service, "u1", {"KY01": "fail"})
    error = refused("not_assigned_reviewer", service.decide, review.review_id, "bob", "upheld", now=T0 + DAY)
    assert error.kind == "forbidden"
    refused("not_assigned_reviewer", service.verify, review.review_id, "bob", "face", True, now=T0 + DAY)
    refused("invalid_state", service.take, review.review_id, "bob", now=T0 + DAY)
    assert service.decide(review.review_id, "alice", "upheld", now=T0 + DAY).outcome == "upheld"
    refused("invalid_state", service.decide, review.review_id, "alice", "upheld", now=T0 + DAY)


def test_nobody_reviews_their_own_request(service):
    review = service.request("u1", decision_doc("u1"), now=T0)
    assert refused("own_request", service.take, review.review_id, "u1", now=T0).kind == "forbidden"
    set_risk(service, "u2", "R2")
    opened = service.open_r2("u2", decision_doc("u2", {"AF01": "fail"}), opened_by="carol", now=T0)
    refused("own_request", service.take, opened.review_id, "carol", now=T0)
    refused("own_request", service.take, opened.review_id, "u2", now=T0)
    refused("reviewer_required", service.take, opened.review_id, "  ", now=T0)
    assert service.take(opened.review_id, "alice", now=T0).reviewer == "alice"


@pytest.mark.parametrize("code", ["RG02", "RG04", "GR01", "GR02", "AF01", "CR04"])
def test_checks_outside_the_overridable_list_are_refused(service, code):
    review = in_review(service, "u1", {code: "fail", "KY01": "fail"})
    error = refused("not_overridable", service.decide, review.review_id, "alice", "overridden", clear_checks=["KY01", code], reason_code="HR01", now=T0 + DAY)
    assert error.details["check"] == code
    assert active_check_overrides(service.engine).is_empty()  # refused as a whole
    assert service.get(review.review_id).status == "in_review"


def test_only_checks_that_failed_can_be_cleared(service):
    review = in_review(service, "u1", {"KY01": "fail", "KY05": "warn"})
    refused("unknown_check", service.decide, review.review_id, "alice", "overridden", clear_checks=["ZZ99"], reason_code="HR01")
    refused("check_not_failing", service.decide, review.review_id, "alice", "overridden", clear_checks=["KY02"], reason_code="HR01")
    refused("check_not_failing", service.decide, review.review_id, "alice", "overridden", clear_checks=["KY05"], reason_code="HR01")


def test_an_override_clears_checks_with_a_reason_code(service):
    review = in_review(service, "u1", {"KY01": "fail", "PD01": "not_assessable", "RG04": "not_assessable"})
    refused("reason_required", service.decide, review.review_id, "alice", "overridden", clear_checks=["KY01"], now=T0 + DAY)
    refused("unknown_reason_code", service.decide, review.review_id, "alice", "overridden", clear_checks=["KY01"], reason_code="HR99", now=T0 + DAY)
    refused("override_without_change", service.decide, review.review_id, "alice", "overridden", reason_code="HR01", now=T0 + DAY)
    refused("upheld_with_changes", service.decide, review.review_id, "alice", "upheld", clear_checks=["KY01"], now=T0 + DAY)
    decided = service.decide(review.review_id, "alice", "overridden", clear_checks=["KY01", "PD01"], reason_code="HR01", note="saw the ID card", now=T0 + DAY)
    assert decided.status == "decided" and decided.outcome == "overridden" and decided.reason_code == "HR01"
    assert decided.changes["cleared_checks"] == ["KY01", "PD01"]
    overrides = active_check_overrides(service.engine, ["u1", "u9"])
    assert overrides.columns == ["user_id", "check_code", "review_id", "reviewer", "reason_code"]
    assert overrides.rows() == [("u1", "KY01", review.review_id, "alice", "HR01"), ("u1", "PD01", review.review_id, "alice", "HR01")]
    assert active_check_overrides(service.engine, ["u9"]).is_empty()


def test_upholding_needs_no_reason_code(service):
    review = in_review(service, "u1", {"KY01": "fail"})
    decided = service.decide(review.review_id, "alice", "upheld", now=T0 + DAY)
    assert decided.outcome == "upheld" and decided.reason_code is None and decided.changes["cleared_checks"] == []


# ---- risk levels -------------------------------------------------------------------------------------
def r2_review(service: ReviewService, user_id: str = "u1", level: str = "R2") -> Review:
    set_risk(service, user_id, level)
    opened = service.open_r2(user_id, decision_doc(user_id, {"AF01": "fail"}), now=T0) if level == "R2" else service.request(user_id, decision_doc(user_id, {"AF01": "fail"}), now=T0)
    return service.take(opened.review_id, "alice", now=T0 + HOUR)


def risk_row(service: ReviewService, user_id: str):
    with service.engine.connect() as conn:
        return conn.execute(select(risk_states).where(risk_states.c.user_id == user_id)).first()


def test_open_r2_needs_the_user_at_r2(service):
    refused("not_at_r2", service.open_r2, "u1", decision_doc("u1"), now=T0)
    set_risk(service, "u2", "R1")
    assert refused("not_at_r2", service.open_r2, "u2", decision_doc("u2"), now=T0).details["risk_level"] == "R1"


def test_r2_is_lowered_only_after_a_passed_verification(service):
    review = r2_review(service)
    refused("verification_required", service.decide, review.review_id, "alice", "overridden", risk_level="R0", reason_code="HR03", now=T0 + DAY)
    service.verify(review.review_id, "alice", "face", False, now=T0 + DAY)
    refused("verification_required", service.decide, review.review_id, "alice", "overridden", risk_level="R0", reason_code="HR03", now=T0 + DAY)
    refused("unknown_method", service.verify, review.review_id, "alice", "carrier-pigeon", True)
    service.verify(review.review_id, "alice", "sms", True, now=T0 + DAY)
    decided = service.decide(review.review_id, "alice", "overridden", risk_level="R0", reason_code="HR03", now=T0 + 2 * DAY)
    assert decided.changes["risk_level"] == {"from": "R2", "to": "R0"}
    row = risk_row(service, "u1")
    assert row.level == "R0" and row.rule_id == f"human_review:{review.review_id}" and row.recovers_at is None
    assert db.utc(row.since) == T0 + 2 * DAY
    assert json.loads(row.evidence) == {"review_id": review.review_id, "reviewer": "alice", "reason_code": "HR03", "from": "R2"}
    assert service.risk_level("u1") == "R0"


def test_r2_without_the_verification_rule_is_lowered_directly(tmp_path):
    service = ReviewService.open(tmp_path, policy_with({"bounds.r2_needs_verification": False}))
    review = r2_review(service)
    assert service.decide(review.review_id, "alice", "overridden", risk_level="R1", reason_code="HR03", now=T0 + DAY).outcome == "overridden"
    row = risk_row(service, "u1")
    # An R1 set by a reviewer recovers like any R1.
    assert row.level == "R1" and db.utc(row.recovers_at) == T0 + DAY + dt.timedelta(days=POLICY.visibility.anti_fraud.r1_recovery_days)


def test_r3_is_never_lowered(service):
    review = r2_review(service, level="R3")
    service.verify(review.review_id, "alice", "document", True, now=T0 + DAY)
    for target in ("R2", "R1"):
        refused("risk_level_permanent", service.decide, review.review_id, "alice", "overridden", risk_level=target, reason_code="HR03", now=T0 + DAY)
    assert risk_row(service, "u1").level == "R3"


def test_risk_steps_down_are_bounded_by_the_policy(tmp_path):
    service = ReviewService.open(tmp_path, policy_with({"bounds.max_risk_steps_down": 1}))
    review = r2_review(service)
    service.verify(review.review_id, "alice", "face", True, now=T0 + DAY)
    error = refused("risk_steps_exceeded", service.decide, review.review_id, "alice", "overridden", risk_level="R0", reason_code="HR03", now=T0 + DAY)
    assert error.details["max_steps"] == 1
    refused("risk_level_raise", service.decide, review.review_id, "alice", "overridden", risk_level="R3", reason_code="HR03", now=T0 + DAY)
    refused("risk_level_unchanged", service.decide, review.review_id, "alice", "overridden", risk_level="R2", reason_code="HR03", now=T0 + DAY)
    assert service.decide(review.review_id, "alice", "overridden", risk_level="R1", reason_code="HR03", now=T0 + DAY).changes["risk_level"]["to"] == "R1"


def test_a_user_without_a_risk_state_is_r0_and_cannot_be_lowered(service):
    review = in_review(service, "u1", {"KY01": "fail"})
    refused("risk_level_unchanged", service.decide, review.review_id, "alice", "overridden", risk_level="R0", reason_code="HR03")


def test_a_risk_change_drops_the_cached_decision(service):
    from lendguard.store.decisions import decision_cache

    review = r2_review(service)
    with service.engine.begin() as conn:
        conn.execute(insert(decision_cache).values(user_id="u1", as_of=T0, policy_sha256="x", row="{}"))
    service.verify(review.review_id, "alice", "face", True, now=T0 + DAY)
    service.decide(review.review_id, "alice", "overridden", risk_level="R0", reason_code="HR03", now=T0 + DAY)
    with service.engine.connect() as conn:
        assert conn.execute(select(decision_cache.c.user_id)).all() == []


# ---- credit-line bound through decide -------------------------------------------------------------------
def test_a_line_change_is_bounded_by_the_share_of_the_system_line(service):
    review = in_review(service, "u1", {"KY01": "fail"})
    error = refused(
        "line_change_out_of_bounds", service.decide, review.review_id, "alice", "overridden",
        line_change=LineChange(Decimal("10000"), Decimal("12000.01")), reason_code="HR02",
    )
    assert Decimal(error.details["high"]) == Decimal("12000")
    decided = service.decide(review.review_id, "alice", "overridden", line_change=LineChange(Decimal("10000"), Decimal("8000")), reason_code="HR02")
    assert decided.changes["line"] == {"system_line": "10000", "new_line": "8000"}


# ---- withdrawal --------------------------------------------------------------------------------------
def test_only_the_user_withdraws_an_open_review(service):
    review = in_review(service, "u1", {"KY01": "fail"})
    refused("not_the_user", service.withdraw, review.review_id, actor="alice")
    withdrawn = service.withdraw(review.review_id, reason="sorted it out", now=T0 + DAY)
    assert withdrawn.status == "withdrawn" and withdrawn.withdrawn_at == T0 + DAY
    refused("invalid_state", service.withdraw, review.review_id)
    refused("invalid_state", service.decide, review.review_id, "alice", "upheld")
    refused("unknown_review", service.withdraw, "rv-nope")
    assert refused("unknown_review", service.get, "rv-nope").kind == "not_found"


# ---- action log and evidence ---------------------------------------------------------------------------
def test_every_action_is_logged_and_in_the_evidence_log(service, tmp_path):
    review = service.request("u1", decision_doc("u1", {"CR04": "fail", "KY01": "fail"}), now=T0)
    service.confirm(review.review_id, now=T0 + HOUR)
    service.take(review.review_id, "alice", now=T0 + 30 * HOUR)
    service.verify(review.review_id, "alice", "document", True, now=T0 + 31 * HOUR)
    service.decide(review.review_id, "alice", "overridden", clear_checks=["KY01"], reason_code="HR01", now=T0 + 32 * HOUR)
    other = service.request("u2", decision_doc("u2"), now=T0)
    service.withdraw(other.review_id, now=T0 + HOUR)

    actions = service.actions(review.review_id)
    assert [a.action for a in actions] == ["requested", "confirmed", "taken", "verified", "decided"]
    assert [a.actor for a in actions] == ["u1", "u1", "alice", "alice", "alice"]
    assert [a.seq for a in actions] == [1, 2, 3, 4, 5] and actions[0].at == T0
    assert actions[0].details["decision"]["reason_codes"] == ["CR04", "KY01"]
    assert actions[3].details == {"method": "document", "passed": True}
    assert actions[4].details["cleared_checks"] == ["KY01"] and actions[4].details["reason_code"] == "HR01"
    assert [a.action for a in service.actions(other.review_id)] == ["requested", "withdrawn"]

    every = actions + service.actions(other.review_id)
    fetch = load_sources(tmp_path)["review_action"]
    stored = fetch([a.action_id for a in every] + ["missing.1"])
    assert set(stored) == {a.action_id for a in every}
    log = EvidenceLog.open(tmp_path)
    assert log.size == len(every) == 7
    indexes = []
    for action in every:
        index, leaf = service.receipt(action.action_id)
        indexes.append(index)
        assert stored[action.action_id] == action.to_record()
        assert leaf == record_hash(stored[action.action_id]).hex() == log.locate(action.action_id, "review_action")[2].hex()
    assert sorted(indexes) == list(range(7))
    report = log.audit(load_sources(tmp_path))
    assert report.ok, report.findings


def test_a_refused_action_leaves_no_trace(service, tmp_path):
    review = in_review(service, "u1", {"KY01": "fail"})
    refused("not_overridable", service.decide, review.review_id, "alice", "overridden", clear_checks=["RG02"], reason_code="HR01")
    assert [a.action for a in service.actions(review.review_id)] == ["requested", "taken"]
    assert EvidenceLog.open(tmp_path).size == 2


def test_an_action_whose_append_failed_is_appended_later(service, tmp_path):
    review = service.request("u1", decision_doc("u1"), now=T0)
    first = service.actions(review.review_id)[0]
    with service.engine.begin() as conn:  # as if the process died after the commit, before the receipt
        conn.execute(db.receipts.delete())
    assert service.receipt(first.action_id) is None
    service.take(review.review_id, "alice", now=T0 + HOUR)
    assert service.receipt(first.action_id) is not None  # the leaf was already there: located, not appended twice
    assert EvidenceLog.open(tmp_path).size == 2


def test_an_audit_notices_a_changed_action(service, tmp_path):
    review = service.request("u1", decision_doc("u1"), now=T0)
    with service.engine.begin() as conn:
        conn.execute(db.review_actions.update().where(db.review_actions.c.review_id == review.review_id).values(actor="someone-else"))
    report = EvidenceLog.open(tmp_path).audit(load_sources(tmp_path))
    assert not report.ok and report.findings[0].problem == "record_changed"


# ---- overdue and the report ------------------------------------------------------------------------------
def test_reviews_not_decided_in_time_are_reported_overdue(service):
    days = POLICY.reviews.decide_within_days
    late = service.request("u1", decision_doc("u1"), now=T0)
    waiting = service.request("u2", decision_doc("u2", {"CR04": "fail"}), now=T0)  # waits for the user: not the lender's delay
    on_time = service.request("u3", decision_doc("u3"), now=T0 + days * DAY)
    decided_late = in_review(service, "u4", {"KY01": "fail"}, reviewer="bob")
    service.decide(decided_late.review_id, "bob", "upheld", now=T0 + (days + 1) * DAY)
    report = service.report(now=T0 + (days + 0.5) * DAY)
    assert [o["review_id"] for o in report["overdue"]] == [late.review_id]
    assert report["overdue"][0]["days_overdue"] == 0.5
    assert waiting.review_id not in {o["review_id"] for o in report["overdue"]} and on_time.status == "requested"
    assert report["reviewers"][0]["reviewer"] == "bob" and report["reviewers"][0]["decided_late"] == 1


def test_the_report_flags_a_reviewer_who_overrides_far_more_than_the_team(service):
    n = 0

    def review_by(reviewer: str, override: bool) -> None:
        nonlocal n
        n += 1
        review = in_review(service, f"u{n}", {"KY01": "fail", "DS04": "fail"}, reviewer=reviewer)
        if override:
            service.decide(review.review_id, reviewer, "overridden", clear_checks=["KY01"], reason_code="HR01", now=T0 + DAY)
        else:
            service.decide(review.review_id, reviewer, "upheld", now=T0 + DAY)

    for i in range(10):
        review_by("alice", i < 8)  # 80 %
        review_by("bob", i < 1)  # 10 %
        review_by("carol", i < 1)  # 10 %
    for _ in range(3):
        review_by("dave", True)  # 100 %, but only 3 decisions
    report = service.report(now=T0 + 2 * DAY)
    team = report["team"]
    assert team["decided"] == 33 and team["overridden"] == 13 and team["override_rate"] == round(13 / 33, 4)
    assert team["by_reason"] == {"HR01": 13} and team["by_check"] == {"KY01": 13}
    rows = {row["reviewer"]: row for row in report["reviewers"]}
    assert rows["alice"]["override_rate"] == 0.8 and rows["alice"]["flagged"]
    assert not rows["bob"]["flagged"] and not rows["carol"]["flagged"]
    assert rows["dave"]["override_rate"] == 1.0 and not rows["dave"]["enough_sample"] and not rows["dave"]["flagged"]
    assert report["flagged"] == ["alice"]
    # With a smaller minimum sample, dave is flagged too.
    assert service.report(now=T0 + 2 * DAY, min_decided=3)["flagged"] == ["alice", "dave"]


def test_the_report_counts_risk_level_changes_and_renders(service):
    from rich.console import Console

    from lendguard.reviews.report import render_report

    review = r2_review(service)
    service.verify(review.review_id, "alice", "face", True, now=T0 + DAY)
    service.decide(review.review_id, "alice", "overridden", risk_level="R0", reason_code="HR03", now=T0 + DAY)
    report = service.report(now=T0 + 30 * DAY)
    assert report["reviewers"][0]["risk_level_changes"] == {"R2->R0": 1} and report["team"]["by_reason"] == {"HR03": 1}
    json.dumps(report)  # JSON-able
    console = Console(record=True, width=160)
    render_report(report, console)
    text = console.export_text()
    assert "alice" in text and "R2->R0 1" in text


def test_build_report_on_no_reviews():
    report = build_report([], T0, POLICY)
    assert report["team"]["override_rate"] is None and report["reviewers"] == [] and report["overdue"] == []


# ---- portability -----------------------------------------------------------------------------------------
def test_the_tables_compile_for_postgresql():
    for table in db.TABLES:
        ddl = str(CreateTable(table).compile(dialect=postgresql.dialect()))
        assert "TIMESTAMP WITH TIME ZONE" in ddl or table is db.check_overrides or "INTEGER" in ddl


def test_the_service_runs_on_postgresql(tmp_path):
    pytest.importorskip("psycopg")
    from sqlalchemy import create_engine, text

    engine = create_engine("postgresql+psycopg://127.0.0.1:5432/test")
    try:
        with engine.begin() as conn:
            conn.execute(text("DROP TABLE IF EXISTS reviews, review_actions, review_check_overrides, review_action_receipts, risk_states, decision_cache"))
    except Exception as exc:  # noqa: BLE001 - no server reachable
        pytest.skip(f"no PostgreSQL: {exc}")
    service = ReviewService(engine, POLICY, EvidenceLog.open(tmp_path))
    review = r2_review(service)
    service.verify(review.review_id, "alice", "face", True, now=T0 + DAY)
    decided = service.decide(review.review_id, "alice", "overridden", risk_level="R0", reason_code="HR03", now=T0 + DAY)
    assert decided.requested_at == T0 and service.risk_level("u1") == "R0"


def test_concurrent_requests_open_one_review(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    services = [ReviewService.open(tmp_path, POLICY) for _ in range(4)]  # as four processes would

    def attempt(service: ReviewService) -> str:
        try:
            return service.request("u1", decision_doc("u1"), now=T0).review_id
        except ReviewError as exc:
            return exc.code

    with ThreadPoolExecutor(4) as pool:
        outcomes = list(pool.map(attempt, services))
    opened = [o for o in outcomes if o.startswith("rv-")]
    assert len(opened) == 1 and sorted(set(outcomes) - set(opened)) == ["review_already_open"]
    assert len(services[0].find(user_id="u1")) == 1 and EvidenceLog.open(tmp_path).size == 1
