"""Consent and the data gate: only consented data are read, refusal is never risk, withdrawal
stops reads at once, retention deletes from every store, every read is logged."""

from __future__ import annotations

import datetime as dt
import json

import polars as pl
import pytest
from support import AS_OF, UserBuilder, as_of, decide, frames_of

from lendguard.consent.access_log import AccessLog
from lendguard.consent.gate import ConsentDeclarationError, gate
from lendguard.consent.grants import ConsentError, consent_event
from lendguard.consent.retention import deletion_records, run_retention
from lendguard.consent.service import change_consent, user_consents
from lendguard.consent.uses import ROWS, DataUse, EngineUses
from lendguard.events.ingest import dead_letter_for, ingest
from lendguard.events.schema import EVENT_TYPES
from lendguard.policy import load_policy
from lendguard.store.decisions import DecisionCache
from lendguard.store.events import EventStore
from lendguard.visibility.check import FAIL, NOT_ASSESSABLE, PASS
from lendguard.visibility.data_use import CHECK_USES, VISIBILITY_USES
from lendguard.visibility.decision import DecisionRenderer
from lendguard.visibility.dimensions import active_checks
from lendguard.visibility.service import VisibilityService, evaluate_store

POLICY = load_policy()
ACTIVE = [c.code for c in active_checks(POLICY)]  # the checks the default policy decides by
DEEP_CATEGORIES = [name for name, c in POLICY.consent.categories.items() if c.scope == "deep_credit"]
DEEP_TYPES = [t for name in DEEP_CATEGORIES for t in POLICY.consent.categories[name].event_types]


def _needs_deep(code: str) -> bool:
    return any(POLICY.consent.categories[u.category].scope == "deep_credit" and u.form == ROWS for u in CHECK_USES[code])


def test_refusing_the_optional_layer_is_never_a_risk_signal():
    row = decide(UserBuilder(consents=("basic_profile", "phone_device")).frames())
    assert not row["visible"]
    for code in ACTIVE:
        if _needs_deep(code):
            assert row[code] == NOT_ASSESSABLE, code
            assert row[f"{code}__advice"] == "consent_needed", code
        else:
            # Payment totals come as the de-identified aggregate: still assessed, still passing.
            assert row[code] == PASS, code
    assert FAIL not in {row[c] for c in ACTIVE}
    assert row["risk_level"] == "R0"
    document = DecisionRenderer(POLICY, as_of()).decision(row)
    advice = [c["advice"] for d in document["dimensions"] for c in d["checks"] if c["status"] == NOT_ASSESSABLE]
    assert advice and all(a["kind"] == "consent_needed" and a["params"]["scope"] == "deep_credit" for a in advice)
    assert all("not treated as a risk" in c["reason"]["en"] for d in document["dimensions"] for c in d["checks"] if c["status"] == NOT_ASSESSABLE)


def test_a_grant_covers_only_its_purposes():
    user = UserBuilder(consents=("basic_profile", "phone_device"))
    user.extra.append(consent_event(user.user_id, "deep_credit", "grant", ["anti_fraud"], POLICY, at=AS_OF - dt.timedelta(days=500)))
    row = decide(user.frames())
    assert row["CR04"] == PASS and row["PB04"] == PASS  # social graph, read for anti-fraud
    assert row["CR02"] == NOT_ASSESSABLE and row["PD01"] == NOT_ASSESSABLE  # assets and bureau, for credit scoring


def test_no_grant_at_all_leaves_every_data_check_not_assessable_and_asks_for_the_lowest_layer():
    row = decide(UserBuilder(consents=()).frames())
    assert all(row[c] == NOT_ASSESSABLE for c in ACTIVE if CHECK_USES[c])
    document = DecisionRenderer(POLICY, as_of()).decision(row)
    cr01 = next(c for d in document["dimensions"] for c in d["checks"] if c["code"] == "CR01")
    assert cr01["advice"]["params"]["scope"] == "basic_profile"  # the aggregate opens under layer 1


def test_the_gate_hands_out_no_row_the_grants_do_not_cover():
    consenting = UserBuilder(user_id="u-yes").events()
    refusing = UserBuilder(user_id="u-no", consents=("basic_profile", "phone_device")).events()
    frames = frames_of(consenting + refusing)
    gated = gate(frames, VISIBILITY_USES, POLICY, as_of(), AS_OF)
    for event_type in DEEP_TYPES:
        users = set(gated.frames[event_type].collect()["user_id"].to_list())
        assert users == {"u-yes"}, event_type
    # The refusing user's payments reach the engine only as monthly totals.
    totals = gated.aggregates["payment_flows"].collect()
    assert set(totals["user_id"]) == {"u-yes", "u-no"}
    assert not {"counterparty", "ts", "amount"} & set(totals.columns)


def test_a_withdrawal_applies_from_its_own_time():
    user = UserBuilder()
    withdrawn_at = AS_OF - dt.timedelta(hours=1)
    user.extra.append(consent_event(user.user_id, "deep_credit", "withdraw", None, POLICY, at=withdrawn_at))
    frames = user.frames()
    before = gate(frames, VISIBILITY_USES, POLICY, as_of(), withdrawn_at - dt.timedelta(seconds=1))
    after = gate(frames, VISIBILITY_USES, POLICY, as_of(), withdrawn_at)
    assert before.frames["wealth_holding"].collect().height == 1
    assert after.frames["wealth_holding"].collect().height == 0


def test_device_fingerprints_never_leave_the_lenders_domain():
    outward = EngineUses("partner-export", (DataUse("device", ROWS, "anti_fraud"),), external=True)
    with pytest.raises(ConsentDeclarationError, match="never leave"):
        gate(frames_of([]), outward, POLICY, as_of(), AS_OF)
    allowed = EngineUses("partner-export", (DataUse("profile", ROWS, "credit_scoring"),), external=True)
    gate(frames_of([]), allowed, POLICY, as_of(), AS_OF)


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"scope": "everything"}, "scope", "everything"),
        ({"purposes": ["resale"]}, "purposes", "cannot be granted"),
        ({"text_version": "1999-01"}, "text_version", "unknown consent text"),
        ({"text_hash": "0" * 64}, "text_hash", "does not match"),
    ],
)
def test_a_consent_the_policy_does_not_know_is_rejected(tmp_path, changes, field, words):
    good = json.loads(_encode(consent_event("u1", "deep_credit", "grant", None, POLICY, at=AS_OF)))
    store = EventStore(tmp_path)
    report = ingest([(1, json.dumps({**good, **changes}).encode())], "test", store, POLICY, now=AS_OF)
    assert report.stored == 0 and len(report.rejected) == 1
    assert report.rejected[0].field == field and words in report.rejected[0].message
    assert dead_letter_for(tmp_path).read()[0]["field"] == field
    with pytest.raises(ConsentError):
        consent_event("u1", "deep_credit", "grant", ["resale"], POLICY)


def _encode(event) -> bytes:
    import msgspec

    return msgspec.json.encode(event)


def _store_with(tmp_path, *builders) -> EventStore:
    store = EventStore(tmp_path)
    lines = [(i, _encode(e)) for i, e in enumerate((e for b in builders for e in b.events()), 1)]
    report = ingest(lines, "test", store, POLICY, now=AS_OF)
    assert not report.rejected, report.rejected[:3]
    return store


def _logged_users(log: AccessLog, category: str, after: dt.datetime, form: str = "rows") -> set[str]:
    export = log.export(start=after)
    return set(export.filter((pl.col("category") == category) & (pl.col("form") == form))["user_id"].to_list())


def test_after_a_withdrawal_the_access_log_shows_no_read_of_that_data(tmp_path):
    store = _store_with(tmp_path, UserBuilder(user_id="u-a"), UserBuilder(user_id="u-b"))
    service = VisibilityService(store, POLICY)
    log = AccessLog(store.engine, tmp_path)
    start = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=1)
    assert service.decision("u-a", as_of())["visible"] is True
    evaluate_store(store, POLICY, as_of())
    assert {"u-a", "u-b"} <= _logged_users(log, "assets", start)

    change = change_consent(store, POLICY, "u-a", "deep_credit", "withdraw")
    withdrawn_at = dt.datetime.fromisoformat(change.event["ts"])
    decision = service.decision("u-a", as_of())  # the cached decision was dropped: recomputed
    assert decision["visible"] is False and "CR02" in decision["reason_codes"]
    evaluate_store(store, POLICY, as_of())
    for category in DEEP_CATEGORIES:
        readers = _logged_users(log, category, withdrawn_at)
        assert "u-a" not in readers and "u-b" in readers, category
    # Payment totals stay available under the basic layer, as the policy allows.
    assert "u-a" in _logged_users(log, "payment_flows", withdrawn_at, form="aggregate")
    # The user's own record shows the withdrawal; earlier reads stay on the log.
    record = user_consents(store, "u-a")
    assert not any(g["scope"] == "deep_credit" for g in record["active"])
    assert "u-a" in _logged_users(log, "assets", start)


def test_retention_deletes_withdrawn_and_expired_data_from_every_store(tmp_path):
    old_contact_days = POLICY.consent.categories["social_graph"].retention_days + 10
    keeper = UserBuilder(user_id="u-keep")
    store = _store_with(tmp_path, UserBuilder(user_id="u-gone"), keeper)
    old = {"type": "social_contact", "event_id": "old-contact", "user_id": "u-keep", "ts": (AS_OF - dt.timedelta(days=old_contact_days)).isoformat(), "contact_id": "c-old"}
    ingest([(1, json.dumps(old).encode())], "test", store, POLICY, now=AS_OF)
    # A rejected event of the withdrawing user sits in the dead-letter file.
    bad = {"type": "payment", "event_id": "bad-pay", "user_id": "u-gone", "ts": AS_OF.isoformat(), "amount": "-5.00", "channel": "online"}
    ingest([(1, json.dumps(bad).encode())], "test", store, POLICY, now=AS_OF)
    service = VisibilityService(store, POLICY)
    service.evaluate_all(as_of())

    withdrawn_at = AS_OF + dt.timedelta(hours=1)
    change_consent(store, POLICY, "u-gone", "deep_credit", "withdraw", at=withdrawn_at)
    days = POLICY.consent.categories["assets"].deletion_days_after_withdrawal
    early = run_retention(store, POLICY, now=withdrawn_at + dt.timedelta(days=days - 1))
    assert not [r for r in early.records if r["reason"] == "withdrawal"]  # not due yet
    assert store.scan("wealth_holding").filter(pl.col("user_id") == "u-gone").collect().height == 1

    report = run_retention(store, POLICY, now=withdrawn_at + dt.timedelta(days=days))
    for event_type in DEEP_TYPES:
        frame = store.scan(event_type).collect()
        assert "u-gone" not in frame["user_id"].to_list(), event_type
        if event_type != "social_contact":
            assert "u-keep" in frame["user_id"].to_list(), event_type
    assert not any(json.loads(r["raw"])["user_id"] == "u-gone" for r in dead_letter_for(tmp_path).read())
    assert service.cache.get("u-gone", as_of().at, POLICY.sha256, service.row_schema(as_of())) is None
    # Nothing of the deleted rows is left on disk either: only committed parts remain.
    on_disk = pl.concat([pl.read_parquet(p).select("user_id") for t in DEEP_TYPES for p in (tmp_path / "events" / t).glob("*.parquet")])
    assert "u-gone" not in on_disk["user_id"].to_list()
    # The expired contact went by age, the rest of the keeper's contacts stayed.
    contacts = store.scan("social_contact").collect()["event_id"].to_list()
    assert "old-contact" not in contacts and any(c.startswith("u-keep") for c in contacts)
    reasons = {(r["event_type"], r["reason"]) for r in deletion_records(store.engine)}
    assert ("wealth_holding", "withdrawal") in reasons and ("social_contact", "retention_period") in reasons
    assert report.rows >= len(DEEP_TYPES)
    # Consents themselves are the proof of what was allowed: never deleted.
    assert store.scan("consent").filter(pl.col("user_id") == "u-gone").collect().height == 4


def test_population_reads_are_logged_per_use_with_their_users(tmp_path):
    store = _store_with(tmp_path, UserBuilder(user_id="u-1"), UserBuilder(user_id="u-2", consents=("basic_profile", "phone_device")))
    evaluate_store(store, POLICY, as_of(), actor="quarterly-job")
    entries = AccessLog(store.engine, tmp_path).entries()
    assert {e["actor"] for e in entries} == {"quarterly-job"}
    by_use = {(e["category"], e["form"]): e["user_count"] for e in entries}
    assert by_use[("assets", "rows")] == 1 and by_use[("payment_flows", "aggregate")] == 2
    export = AccessLog(store.engine, tmp_path).export(user_id="u-2")
    assert set(export["category"]) == {"profile", "device", "identity", "payment_flows", "app_activity"}
    assert set(export.filter(pl.col("category") == "payment_flows")["form"]) == {"aggregate"}
    assert set(EVENT_TYPES) >= {t for c in POLICY.consent.categories.values() for t in c.event_types}


def test_a_decision_served_again_later_the_same_day_is_the_same_record(tmp_path):
    """A cached decision is rendered as of when it was decided, not when it is asked for:
    a front end asking every second must not store a new evidence record each time."""
    from lendguard.features.window import AsOf

    store = _store_with(tmp_path, UserBuilder(user_id="u-day"))
    service = VisibilityService(store, POLICY)
    first = service.decision("u-day", as_of())
    later = VisibilityService(store, POLICY).decision("u-day", AsOf.of(AS_OF + dt.timedelta(minutes=7, microseconds=3), POLICY))
    assert later == first and dt.datetime.fromisoformat(later["as_of"]) == AS_OF
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM decision_records WHERE user_id = 'u-day'").scalar() == 1
    # The next day the row is decided again, as of then.
    next_day = service.decision("u-day", AsOf.of(AS_OF + dt.timedelta(days=1), POLICY))
    assert dt.datetime.fromisoformat(next_day["as_of"]) == AS_OF + dt.timedelta(days=1) and next_day["record_id"] != first["record_id"]


def test_a_second_process_serves_the_document_the_first_rendered(tmp_path, monkeypatch):
    """Server processes share rendered documents through the catalogue: a process meeting
    a row another one rendered reads its document (marked here, to see it come back)
    instead of rendering it again; another release renders afresh."""
    import lendguard.visibility.service as service_module

    store = _store_with(tmp_path, UserBuilder(user_id="u-x"))
    first = VisibilityService(store, POLICY).decision("u-x", as_of())
    with store.engine.begin() as conn:
        marked = conn.exec_driver_sql("""UPDATE rendered_decisions SET document = replace(document, '"user_id":"u-x"', '"user_id":"u-x","shared":true')""").rowcount
    assert marked == 1
    second = VisibilityService(store, POLICY).decision("u-x", as_of())
    assert second.pop("shared") is True and second == first
    monkeypatch.setattr(service_module, "__version__", "a later release")
    assert VisibilityService(store, POLICY).decision("u-x", as_of()) == first
    # New events drop the row and its rendering together.
    DecisionCache(store.engine, POLICY.timezone).invalidate(["u-x"])
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM rendered_decisions").scalar() == 0


def test_consents_decisions_and_deletions_are_evidence_and_tampering_is_found(tmp_path):
    from lendguard.evidence import EvidenceLog, load_sources

    store = _store_with(tmp_path, UserBuilder(user_id="u-ev"))
    service = VisibilityService(store, POLICY)
    document = service.decision("u-ev", as_of())
    assert service.decision("u-ev", as_of())["record_id"] == document["record_id"]  # served twice, one record
    change_consent(store, POLICY, "u-ev", "deep_credit", "withdraw", at=AS_OF + dt.timedelta(hours=1))
    run_retention(store, POLICY, now=AS_OF + dt.timedelta(days=30))
    with EvidenceLog.open(tmp_path) as log:
        kinds = {kind for rows in log.leaf_rows() for _, kind, _, _ in rows}
        assert {"consent", "decision", "deletion"} <= kinds
        assert log.audit(load_sources(tmp_path)).ok
        with store.engine.begin() as conn:
            conn.exec_driver_sql("UPDATE decision_records SET document = replace(document, '\"visible\":true', '\"visible\":false')")
        report = log.audit(load_sources(tmp_path))
    assert not report.ok
    assert any(f.record_id == document["record_id"] for f in report.findings)
