"""Consents and deletion records as evidence-log leaves, and how the audit reads them back.

A consent's leaf is the canonical JSON of the stored consent event; a deletion's is
its deletion record. Appending happens after the store commits, so a crash in
between leaves a record without a leaf: `log_consents` appends whatever stored
consent is not yet logged (it is also run by `lendguard evidence sync`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import polars as pl
from sqlalchemy import select

from lendguard.evidence import EvidenceLog
from lendguard.evidence.tables import leaves
from lendguard.store.catalog import as_utc
from lendguard.store.events import EventStore

CONSENT_KIND = "consent"
DELETION_KIND = "deletion"
_CONSENT_FIELDS = ("event_id", "user_id", "ts", "scope", "action", "purposes", "text_version", "text_hash", "schema_version")


def consent_record(row: Mapping[str, Any]) -> dict[str, Any]:
    """The logged form of a stored consent event (times in ISO 8601 UTC)."""
    return {
        "event_id": row["event_id"],
        "user_id": row["user_id"],
        "ts": row["ts"].isoformat(),
        "scope": str(row["scope"]),
        "action": str(row["action"]),
        "purposes": list(row["purposes"]),
        "text_version": row["text_version"],
        "text_hash": row["text_hash"],
        "schema_version": row["schema_version"],
    }


def deletion_record(row: Mapping[str, Any]) -> dict[str, Any]:
    """The logged form of a deletion record (times as ISO 8601 UTC, whatever the database returns)."""
    return {k: (as_utc(v).isoformat() if isinstance(v, dt.datetime) else v) for k, v in row.items()}


def log_consents(store: EventStore, log: EvidenceLog, event_ids: Iterable[str] | None = None, progress: Callable[[int], None] | None = None) -> int:
    """Append every stored consent (or those of `event_ids`) that is not yet a leaf."""
    frame = store.scan("consent").select(_CONSENT_FIELDS)
    wanted = None if event_ids is None else list(event_ids)
    if wanted is not None:
        frame = frame.filter(pl.col("event_id").is_in(wanted))
    logged = pl.DataFrame({"event_id": logged_ids(log, CONSENT_KIND, wanted)}, schema={"event_id": pl.String})
    missing = frame.join(logged.lazy(), on="event_id", how="anti").collect().sort("ts", "event_id")
    appended = 0
    for chunk in missing.iter_slices(50_000):
        log.append_many((CONSENT_KIND, row["event_id"], consent_record(row)) for row in chunk.iter_rows(named=True))
        appended += chunk.height
        if progress:
            progress(chunk.height)
    return appended


def logged_ids(log: EvidenceLog, kind: str, among: Sequence[str] | None = None) -> list[str]:
    """Record ids of one kind already in the log (only among `among` when given)."""
    query = select(leaves.c.record_id).where(leaves.c.kind == kind)
    found: list[str] = []
    with log.engine.connect() as conn:
        if among is None:
            return [r[0] for r in conn.execute(query)]
        for start in range(0, len(among), 500):
            found += [r[0] for r in conn.execute(query.where(leaves.c.record_id.in_(among[start : start + 500])))]
    return found


def consent_records(data_dir: str | Path) -> Callable[[Sequence[str]], Mapping[str, Mapping[str, Any]]]:
    store = EventStore(data_dir)

    def records(ids: Sequence[str]) -> Mapping[str, Mapping[str, Any]]:
        rows = store.scan("consent").select(_CONSENT_FIELDS).filter(pl.col("event_id").is_in(list(ids))).collect()
        return {row["event_id"]: consent_record(row) for row in rows.iter_rows(named=True)}

    return records


def deletion_records_by_id(data_dir: str | Path) -> Callable[[Sequence[str]], Mapping[str, Mapping[str, Any]]]:
    from lendguard.consent.retention import deletions, ensure_tables

    store = EventStore(data_dir)
    ensure_tables(store.engine)

    def records(ids: Sequence[str]) -> Mapping[str, Mapping[str, Any]]:
        with store.engine.connect() as conn:
            rows = conn.execute(select(deletions).where(deletions.c.deletion_id.in_(list(ids)))).all()
        return {r.deletion_id: deletion_record(dict(r._mapping)) for r in rows}

    return records


def sync_consents(data_dir: str | Path, log: EvidenceLog) -> int:
    """`lendguard evidence sync`: append stored consents a crash left without a leaf."""
    return log_consents(EventStore(data_dir), log)
