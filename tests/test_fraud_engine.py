"""The streaming fraud engine: every default rule at its threshold ±1, windows, lateness,
consent, the R1/R2/R3 life cycle, the risk book, and the visibility engine reading it."""

from __future__ import annotations

import datetime as dt

import pytest
from fraud_support import (
    T0,
    at,
    consents,
    login,
    numbered,
    payment,
    transfer_in,
    transfer_out,
)

from lendguard.events.ingest import dead_letter_for
from lendguard.fraud.book import transitions
from lendguard.fraud.flagged import flag_accounts
from lendguard.fraud.runner import FraudRunner
from lendguard.policy import load_policy
from lendguard.reviews.service import ReviewService
from lendguard.store.events import EventStore
from lendguard.visibility.service import load_risk_states

POLICY = load_policy()
USERS = ["a", "b", "c", "d", "e", "f"]


def run(tmp_path, events, users=USERS, scopes=("basic_profile", "phone_device", "deep_credit"), reviews=True):
    runner = FraudRunner(tmp_path, POLICY, reviews=reviews)
    grants = [e for u in users for e in consents(u, POLICY, scopes)]
    report = runner.feed(numbered(grants + events), "test")
    runner.close()
    return runner, report


def levels(runner) -> dict[str, str]:
    risk = load_risk_states(runner.store)
    return dict(zip(risk["user_id"], risk["risk_level"], strict=True))


def rules_hit(runner) -> set[tuple[str, str]]:
    return {(t["user_id"], t["rule_id"]) for t in transitions(runner.store.engine)}


# ---- FR01: one device, more than 3 accounts within 30 days ------------------------------------
def test_fr01_three_accounts_on_a_device_is_fine_four_is_not(tmp_path):
    three = [login(u, at(minutes=i), device="d1") for i, u in enumerate("abc")]
    runner, _ = run(tmp_path / "three", three)
    assert levels(runner) == {}
    four = three + [login("d", at(minutes=5), device="d1")]
    runner, _ = run(tmp_path / "four", four)
    assert levels(runner) == {u: "R2" for u in "abcd"}  # every account on the device


def test_fr01_window_edge(tmp_path):
    width = dt.timedelta(days=30)
    first = [login(u, at(minutes=i), device="d1") for i, u in enumerate("abc")]
    outside = first + [login("d", at() + width, device="d1")]  # a's login is exactly 30 days old: out
    runner, _ = run(tmp_path / "out", outside)
    assert levels(runner) == {}
    inside = first + [login("d", at() + width - dt.timedelta(seconds=1), device="d1")]
    runner, _ = run(tmp_path / "in", inside)
    assert set(levels(runner)) == set("abcd")


# ---- FR02: received funds concentrated ---------------------------------------------------------
def _receipts(shares: dict[str, int], count: int) -> list:
    events, minute = [], 0
    for counterparty, n in shares.items():
        for _ in range(n):
            events.append(transfer_in("a", at(minutes=minute), counterparty, "10.00"))
            minute += 1
    assert len(events) == count
    return events


def test_fr02_share_at_the_threshold_does_not_hit_above_it_does(tmp_path):
    # 10 receipts of 10.00: top 5 counterparties hold 8 of 10 = 0.80 exactly: no hit.
    at_threshold = _receipts({"p1": 2, "p2": 2, "p3": 2, "p4": 1, "p5": 1, "p6": 1, "p7": 1}, 10)
    runner, _ = run(tmp_path / "eq", at_threshold)
    assert levels(runner) == {}
    # 9 of 10 = 0.90: hit.
    above = _receipts({"p1": 3, "p2": 2, "p3": 2, "p4": 1, "p5": 1, "p6": 1}, 10)
    runner, _ = run(tmp_path / "gt", above)
    assert levels(runner) == {"a": "R1"} and rules_hit(runner) == {("a", "FR02")}


def test_fr02_needs_min_events(tmp_path):
    nine = _receipts({"p1": 9}, 9)  # one counterparty, but only 9 receipts
    runner, _ = run(tmp_path / "nine", nine)
    assert levels(runner) == {}
    runner, _ = run(tmp_path / "ten", nine + [transfer_in("a", at(minutes=30), "p1", "10.00")])
    assert levels(runner) == {"a": "R1"}


def test_fr02_ignores_outgoing_transfers(tmp_path):
    out = [transfer_out("a", at(minutes=i), "p1") for i in range(12)]
    runner, _ = run(tmp_path, out)
    assert levels(runner) == {}


# ---- FR03: cross-province jump within 2 hours --------------------------------------------------
@pytest.mark.parametrize("minutes, hit", [(119, True), (120, False), (121, False)])
def test_fr03_two_hours_edge(tmp_path, minutes, hit):
    events = [login("a", at(), province="Guangdong"), login("a", at(minutes=minutes), province="Zhejiang")]
    runner, _ = run(tmp_path, events)
    assert levels(runner) == ({"a": "R1"} if hit else {})


def test_fr03_same_province_is_fine_and_time_zones_do_not_matter(tmp_path):
    shanghai = dt.timezone(dt.timedelta(hours=8))
    same = [login("a", at(), province="Guangdong"), login("a", at(minutes=30), province="Guangdong")]
    runner, _ = run(tmp_path / "same", same)
    assert levels(runner) == {}
    # The same two instants written in +08:00 across local midnight: still 90 minutes apart.
    first = dt.datetime(2026, 10, 1, 23, 30, tzinfo=shanghai)
    zoned = [login("a", first, province="Guangdong"), login("a", first + dt.timedelta(minutes=90), province="Zhejiang")]
    runner, _ = run(tmp_path / "zoned", zoned)
    assert levels(runner) == {"a": "R1"}


# ---- FR04: any fund flow with a flagged account -----------------------------------------------
def test_fr04_flow_with_a_listed_account(tmp_path):
    flag_accounts(EventStore(tmp_path).engine, ["mule-1"], "police list", "analyst")
    runner, _ = run(tmp_path, [transfer_out("a", at(), "mule-1"), transfer_out("b", at(minutes=1), "shop-1")])
    assert levels(runner) == {"a": "R2"} and rules_hit(runner) == {("a", "FR04")}


def test_fr04_flow_with_a_user_the_engine_flagged(tmp_path):
    farm = [login(u, at(minutes=i), device="d1") for i, u in enumerate("abcd")]
    runner, _ = run(tmp_path, farm + [transfer_in("e", at(minutes=10), "a")])
    assert levels(runner)["e"] == "R2" and ("e", "FR04") in rules_hit(runner)


# ---- FR05: abnormal login, many IPs within an hour ----------------------------------------------
@pytest.mark.parametrize("ips, hit", [(4, False), (5, True)])
def test_fr05_distinct_ips(tmp_path, ips, hit):
    events = [login("a", at(minutes=10 * i), ip=f"10.0.0.{i}") for i in range(ips)]
    runner, _ = run(tmp_path, events)
    assert levels(runner) == ({"a": "R1"} if hit else {})


# ---- FR06: payment-habit entropy ----------------------------------------------------------------
def _spread(categories: int, n: int, days: float = 0) -> list:
    return [payment("a", at(days=days, minutes=i), f"cat-{i % categories}") for i in range(n)]


def _usual(n: int = 40) -> list:
    return [payment("a", at(days=-45, minutes=i), "food") for i in range(n)]  # one category, 45 days before


@pytest.mark.parametrize("categories, n, hit", [(12, 24, True), (8, 24, False), (12, 19, False)])
def test_fr06_entropy(tmp_path, categories, n, hit):
    # 12 equally used categories = 3.58 bits > 3.0; 8 = exactly 3.0 bits (not above); 19 payments < min_events 20.
    runner, _ = run(tmp_path, _usual() + _spread(categories, n))
    assert levels(runner) == ({"a": "R1"} if hit else {})


def test_fr06_a_user_who_always_spread_their_spending_is_not_a_change(tmp_path):
    habit = _spread(12, 48, days=-45)  # the same 12 categories in the 60 days before the window
    runner, _ = run(tmp_path / "usual", habit + _spread(12, 24, days=0))
    assert levels(runner) == {}
    runner, _ = run(tmp_path / "shift", _usual() + _spread(12, 24, days=0))
    assert levels(runner) == {"a": "R1"}
    details = transitions(runner.store.engine, "a")[0]["details"]
    assert details["baseline_bits"] < 1.5 and details["entropy_bits"] > 3.0
    runner, _ = run(tmp_path / "new", _usual(19) + _spread(12, 24, days=0))  # too little history to compare
    assert levels(runner) == {}


# ---- lateness, consent, dead letter ---------------------------------------------------------
def test_a_late_event_within_tolerance_counts_at_its_event_time(tmp_path):
    events = [login(u, at(minutes=10 + i), device="d1") for i, u in enumerate("abc")]
    events.append(login("d", at(minutes=5), device="d1"))  # arrives last, 7 minutes behind: within 10m
    runner, report = run(tmp_path, events)
    assert report.rejected == 0 and set(levels(runner)) == set("abcd")


def test_an_event_later_than_the_tolerance_is_dead_lettered(tmp_path):
    events = [login("a", at(minutes=60), device="d1"), login("b", at(minutes=0), device="d1")]
    runner, report = run(tmp_path, events)
    assert report.rejected == 1
    kept = dead_letter_for(tmp_path).read()
    assert kept[-1]["field"] == "ts" and "behind the newest event" in kept[-1]["message"]


def test_rules_never_see_data_the_grants_do_not_open(tmp_path):
    # Without deep_credit, transfers are not read for anti-fraud: no FR02 however concentrated.
    receipts = _receipts({"p1": 12}, 12)
    runner, report = run(tmp_path, receipts, scopes=("basic_profile", "phone_device"))
    assert levels(runner) == {} and report.withheld == 12


def test_a_withdrawal_in_the_stream_stops_reads_at_once(tmp_path):
    from lendguard.consent.grants import consent_event

    withdraw = consent_event("a", "deep_credit", "withdraw", None, POLICY, at=at(minutes=1), event_id="w-1")
    events = [withdraw] + _receipts({"p1": 12}, 12)
    runner, report = run(tmp_path, events)
    assert levels(runner) == {} and report.withheld == 12


def test_invalid_events_are_kept_with_the_reason(tmp_path):
    runner = FraudRunner(tmp_path, POLICY)
    report = runner.feed([(1, b'{"type": "login", "event_id": "x"}'), (2, b"not json")], "bad")
    assert report.rejected == 2 and len(dead_letter_for(tmp_path).read()) == 2


# ---- the life cycle ----------------------------------------------------------------------------
def test_r1_recovers_by_itself_after_the_policy_period(tmp_path):
    hop = [login("a", at(), province="Guangdong"), login("a", at(minutes=30), province="Zhejiang")]
    days = POLICY.visibility.anti_fraud.r1_recovery_days
    later = [login("a", at(days=days, minutes=31), province="Zhejiang")]
    runner, _ = run(tmp_path, hop + later)
    assert runner.recover_due() and levels(runner) == {"a": "R0"}
    kinds = [(t["from_level"], t["to_level"], t["rule_id"]) for t in reversed(transitions(runner.store.engine))]
    assert kinds == [("R0", "R1", "FR03"), ("R1", "R0", "r1_recovery")]


def test_r1_not_yet_due_stays_and_hides_the_entry(tmp_path):
    from support import UserBuilder, decide, frames_of

    hop = [login("u-test", at(), province="Guangdong"), login("u-test", at(minutes=30), province="Zhejiang")]
    runner, _ = run(tmp_path, hop, users=["u-test"])
    assert runner.recover_due() == []
    risk = load_risk_states(runner.store, "u-test")
    builder = UserBuilder()
    seen_before = decide(frames_of(builder.events()), at=at(days=1))
    seen_now = decide(frames_of(builder.events()), at=at(days=1), risk=risk)
    assert "AF01" not in seen_before["reason_codes"] and "AF01" in seen_now["reason_codes"]


def test_r2_opens_a_review_that_a_reviewer_can_clear_after_verification(tmp_path):
    farm = [login(u, at(minutes=i), device="d1") for i, u in enumerate("abcd")]
    runner, _ = run(tmp_path, farm)
    service = ReviewService.open(tmp_path, POLICY)
    review = next(r for r in service.find(user_id="a") if r.kind == "r2_verification")
    service.take(review.review_id, "alice")
    service.verify(review.review_id, "alice", "face", True)
    service.decide(review.review_id, "alice", "overridden", risk_level="R0", reason_code="HR03")
    assert levels(runner)["a"] == "R0"
    # Replaying the same evidence changes nothing: the hit was already signalled.
    again = FraudRunner(tmp_path, POLICY)
    report = again.feed(numbered(farm, start=1000), "replay")
    assert report.transitions == []


def test_r3_is_permanent(tmp_path):
    from lendguard.fraud.backtest import with_draft

    policy = with_draft(POLICY, {**POLICY.fraud.rules[0].model_dump(), "level": "R3"})
    runner = FraudRunner(tmp_path, policy)
    farm = [login(u, at(minutes=i), device="d1") for i, u in enumerate("abcd")]
    grants = [e for u in "abcd" for e in consents(u, policy)]
    runner.feed(numbered(grants + farm + [login("a", at(minutes=10), province="Hubei")]), "r3")
    runner.recover_due()
    assert levels(runner)["a"] == "R3"
    assert {t["to_level"] for t in transitions(runner.store.engine, "a")} == {"R3"}


def test_transitions_are_stored_once_even_when_the_stream_is_replayed(tmp_path):
    farm = [login(u, at(minutes=i), device="d1") for i, u in enumerate("abcd")]
    runner, _ = run(tmp_path, farm, reviews=False)
    first = transitions(runner.store.engine)
    fresh = FraudRunner(tmp_path / "other", POLICY, reviews=False)  # same signals, new engine, other store
    fresh.book = runner.book
    fresh.feed(numbered([e for u in "abcd" for e in consents(u, POLICY)] + farm), "again")
    assert [t["transition_id"] for t in transitions(runner.store.engine)] == [t["transition_id"] for t in first]


def test_transitions_carry_rule_evidence_and_time(tmp_path):
    farm = [login(u, at(minutes=i), device="d1") for i, u in enumerate("abcd")]
    runner, _ = run(tmp_path, farm)
    row = transitions(runner.store.engine, "a")[0]
    assert row["rule_id"] == "FR01" and row["rule_key"] == "d1" and row["at"] == T0 + dt.timedelta(minutes=3)
    assert set(row["evidence"]) == {e.event_id for e in farm} and row["details"]["distinct"] == 4


def test_state_expires_with_the_window(tmp_path):
    """A key's entries older than the window plus the lateness are dropped: memory stays bounded."""
    from lendguard.fraud.engine import FraudEngine
    from lendguard.fraud.rules import micros

    engine = FraudEngine(POLICY)
    for event in consents("a", POLICY):
        engine.process(event)
    for day in range(200):  # one login a day for 200 days on one device
        engine.process(login("a", at(days=day), device="d1", ip=f"10.0.{day // 250}.{day % 250}"))
    window = engine.state.rules["FR01"].windows["d1"]
    keep = POLICY.fraud.rules[0].window_seconds + POLICY.fraud.lateness_seconds
    oldest_needed = micros(at(days=199)) - keep * 1_000_000
    assert len(window.times) < 30 + 70  # 30 days in the window, old ones dropped in chunks
    assert window.tally.n == 30 and all(t > oldest_needed - 70 * 86_400 * 1_000_000 for t in window.times)


def test_every_transition_is_an_evidence_leaf_that_proves_and_audits(tmp_path):
    from lendguard.evidence import EvidenceLog, load_sources, verify_inclusion_bundle
    from lendguard.fraud.evidence import TRANSITION_KIND, transition_records_by_id

    hop = [login("a", at(), province="Guangdong"), login("a", at(minutes=30), province="Zhejiang")]
    days = POLICY.visibility.anti_fraud.r1_recovery_days
    runner, _ = run(tmp_path, hop + [login("a", at(days=days, minutes=31), province="Zhejiang")])
    runner.recover_due()
    runner.evidence.close()
    stored = transitions(runner.store.engine)
    assert len(stored) == 2
    with EvidenceLog.open(tmp_path) as log:
        for row in stored:
            bundle = log.prove(row["transition_id"], TRANSITION_KIND)
            record = transition_records_by_id(tmp_path)([row["transition_id"]])[row["transition_id"]]
            assert verify_inclusion_bundle(bundle, record, log.public_key_pem).ok
        assert log.audit(load_sources(tmp_path)).ok


def test_a_checkpoint_from_before_a_rule_was_enabled_gives_the_rule_its_windows(tmp_path):
    """User-keyed rules keep their windows in the users' records: a rule enabled after a
    checkpoint gets its place in every record, and a disabled one keeps its place."""
    from lendguard.fraud.backtest import with_draft

    fr06 = next(r for r in POLICY.fraud.rules if r.id == "FR06").model_dump()
    without = with_draft(POLICY, {**fr06, "enabled": False})
    first = FraudRunner(tmp_path, without)
    first.feed(numbered([e for u in USERS for e in consents(u, POLICY)] + [login("a", at(days=-50))]), "test")
    first.close()
    assert "FR06" not in first.engine.state.slots
    runner = FraudRunner(tmp_path, POLICY)  # restarts from the checkpoint with FR06 enabled
    slot = runner.engine.state.slots["FR06"]
    assert all(len(record) > slot for record in runner.engine.state.users.values())
    runner.feed(numbered(_usual() + _spread(12, 24), start=10_000), "later")
    runner.close()
    assert levels(runner) == {"a": "R1"}
    again = FraudRunner(tmp_path, without)  # FR06 off again: its place stays, unused
    assert again.engine.state.slots["FR06"] == slot
