"""Events: validation with clear errors, files in and out, the store's idempotency, dead letters."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import pytest

from lendguard.events.columns import events_to_frames
from lendguard.events.files import EventFileError, read_raw_events, write_events
from lendguard.events.ingest import dead_letter_for, ingest
from lendguard.events.schema import EVENT_CLASSES, json_schema
from lendguard.events.validation import EventValidator
from lendguard.policy import load_policy
from lendguard.store.events import EventStore
from support import UserBuilder

POLICY = load_policy()
NOW = dt.datetime(2026, 11, 24, tzinfo=dt.timezone.utc)
GOOD = {"type": "payment", "event_id": "e1", "user_id": "u1", "ts": "2026-11-20T10:00:00+08:00", "amount": "12.50", "channel": "offline_qr", "counterparty": "m1"}


def validator() -> EventValidator:
    return EventValidator(POLICY.events, now=NOW)


def reject(raw) -> tuple[str | None, str]:
    outcome = validator().validate_one(raw if isinstance(raw, (bytes, dict)) else json.dumps(raw).encode(), "test.jsonl", 7)
    assert not isinstance(outcome, EVENT_CLASSES["payment"].__mro__[1]), f"accepted: {outcome}"
    assert outcome.position == 7 and outcome.source == "test.jsonl"
    return outcome.field, outcome.message


def test_valid_event_decodes_with_exact_money():
    event = validator().validate_one(json.dumps(GOOD).encode(), "t", 1)
    assert event.amount == Decimal("12.50")
    assert event.ts.tzinfo is not None


@pytest.mark.parametrize(
    "change, field, words",
    [
        ({"counterparty": None}, "counterparty", "required field is missing"),
        ({"amount": "abc"}, "amount", "Invalid decimal"),
        ({"amount": "12.345"}, "amount", "more than 2 decimal places"),
        ({"amount": "-3.00"}, "amount", "must be > 0"),
        ({"amount": "0"}, "amount", "must be > 0"),
        ({"channel": "fax"}, "channel", "Invalid enum value"),
        ({"type": "teleport"}, "type", "unknown event type"),
        ({"ts": "2026-11-20T10:00:00"}, "ts", "timezone"),
        ({"ts": "2027-01-01T00:00:00Z"}, "ts", "in the future"),
        ({"colour": "red"}, "colour", "unknown field"),
        ({"user_id": 5}, "user_id", "Expected `str`, got `int`"),
        ({"amount": "99999999999.00"}, "amount", "exceeds the maximum"),
    ],
)
def test_invalid_events_name_the_field(change, field, words):
    raw = {**GOOD, **change}
    raw = {k: v for k, v in raw.items() if v is not None}
    got_field, message = reject(raw)
    assert got_field == field
    assert words in message


def test_malformed_json_line_is_rejected_not_dropped():
    field, message = reject(b"{not json")
    assert field is None and "not valid JSON" in message


def test_future_tolerance_is_policy_driven():
    tolerance = POLICY.events.future_tolerance_seconds
    inside = {**GOOD, "ts": (NOW + dt.timedelta(seconds=tolerance)).isoformat()}
    outside = {**GOOD, "ts": (NOW + dt.timedelta(seconds=tolerance + 1)).isoformat()}
    assert validator().validate_one(json.dumps(inside).encode(), "t", 1).event_id == "e1"
    assert reject(outside)[0] == "ts"


def test_json_schema_covers_every_type():
    schema = json_schema()
    assert set(schema["discriminator"]["mapping"]) == set(EVENT_CLASSES)


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet"])
def test_files_roundtrip_every_event(tmp_path: Path, suffix: str):
    events = UserBuilder(customer_group="student").events()
    frames = events_to_frames(events)
    path = tmp_path / f"events{suffix}"
    assert write_events(frames, path) == len(events)
    result = validator().validate_many(read_raw_events(path), str(path))
    assert result.rejected == []
    assert sorted(e.event_id for e in result.accepted) == sorted(e.event_id for e in events)
    assert sorted(result.accepted, key=lambda e: e.event_id) == sorted(events, key=lambda e: e.event_id)


def test_bad_lines_in_a_file_are_reported_with_line_numbers(tmp_path: Path):
    path = tmp_path / "mixed.jsonl"
    bad = {**GOOD, "event_id": "e2", "amount": "1.234"}
    path.write_text("\n".join([json.dumps(GOOD), "", json.dumps(bad), "oops"]) + "\n")
    result = validator().validate_many(read_raw_events(path), str(path))
    assert [e.event_id for e in result.accepted] == ["e1"]
    assert [(r.position, r.field) for r in result.rejected] == [(3, "amount"), (4, None)]
    assert "mixed.jsonl:3: field 'amount'" in result.rejected[0].describe()


def test_unknown_file_type_and_missing_file(tmp_path: Path):
    with pytest.raises(EventFileError, match="unknown event file type"):
        list(read_raw_events(tmp_path / "events.csv"))
    with pytest.raises(EventFileError, match="no such file"):
        list(read_raw_events(tmp_path / "events.jsonl"))


def test_ingest_stores_valid_keeps_rejected_and_is_idempotent(tmp_path: Path):
    store = EventStore(tmp_path)
    items = [(1, json.dumps(GOOD).encode()), (2, json.dumps({**GOOD, "event_id": "e2", "amount": "-1"}).encode()), (3, json.dumps({**GOOD, "event_id": "e3"}).encode())]
    first = ingest(items, "batch.jsonl", store, POLICY, now=NOW)
    assert (first.received, first.accepted, first.stored, len(first.rejected)) == (3, 2, 2, 1)
    again = ingest(items, "batch.jsonl", store, POLICY, now=NOW)
    assert again.stored == 0 and sorted(again.duplicates) == ["e1", "e3"]
    assert store.scan("payment").collect().height == 2
    kept = dead_letter_for(tmp_path).read()
    assert len(kept) == 2 and kept[0]["field"] == "amount" and kept[0]["position"] == 2 and "raw" in kept[0]


def test_duplicates_inside_one_batch_are_stored_once(tmp_path: Path):
    store = EventStore(tmp_path)
    items = [(1, json.dumps(GOOD).encode()), (2, json.dumps(GOOD).encode())]
    report = ingest(items, "b", store, POLICY, now=NOW)
    assert report.stored == 1 and report.duplicates == ["e1"]


def test_orphan_part_files_are_invisible_and_recovered(tmp_path: Path):
    store = EventStore(tmp_path)
    ingest([(1, json.dumps(GOOD).encode())], "b", store, POLICY, now=NOW)
    # A crash after writing a part file but before committing its batch leaves an orphan.
    orphan = tmp_path / "events" / "payment" / "orphan.parquet"
    store.scan("payment").collect().write_parquet(orphan)
    assert store.scan("payment").collect().height == 1
    assert store.recover() == [orphan]
    assert not orphan.exists()


def test_store_reads_one_user(tmp_path: Path):
    store = EventStore(tmp_path)
    events = UserBuilder(user_id="a").events() + UserBuilder(user_id="b").events()
    store.append(events_to_frames(events), "test")
    mine = store.user_events("a")
    assert sum(f.height for f in mine.values()) == len(UserBuilder(user_id="a").events())
    assert all(f["user_id"].eq("a").all() for f in mine.values() if f.height)


def test_concurrent_ingest_of_the_same_batch_stores_each_event_once(tmp_path: Path):
    from concurrent.futures import ThreadPoolExecutor

    store = EventStore(tmp_path)
    items = [(i, json.dumps({**GOOD, "event_id": f"c{i}"}).encode()) for i in range(200)]
    with ThreadPoolExecutor(4) as pool:
        reports = list(pool.map(lambda _: ingest(items, "b", EventStore(tmp_path), POLICY, now=NOW), range(4)))
    assert sum(r.stored for r in reports) == 200
    ids = store.scan("payment").collect()["event_id"]
    assert ids.n_unique() == ids.len() == 200
