"""Use cases of consent: grant, withdraw, and read a user's grants (CLI and API share these)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass

import msgspec
import polars as pl

from lendguard.consent.grants import consent_event
from lendguard.consent.state import active_grants
from lendguard.events.ingest import IngestReport, ingest
from lendguard.policy import Policy
from lendguard.store.events import EventStore


@dataclass(frozen=True)
class ConsentChange:
    event: dict  # the stored consent event
    report: IngestReport


def change_consent(
    store: EventStore,
    policy: Policy,
    user_id: str,
    scope: str,
    action: str,
    purposes: Sequence[str] | None = None,
    at: dt.datetime | None = None,
) -> ConsentChange:
    """Record a grant or withdrawal as a consent event through the one ingest path, so it
    is validated, stored idempotently and drops the user's cached decisions at once.
    Raises `ConsentError` for a scope, purpose or text the policy does not know."""
    event = consent_event(user_id, scope, action, purposes, policy, at=at)
    raw = msgspec.json.encode(event)
    report = ingest([(1, raw)], f"consent:{action}", store, policy)
    if report.rejected:
        raise ValueError(report.rejected[0].describe())
    return ConsentChange(json.loads(raw), report)


def user_consents(store: EventStore, user_id: str, at: dt.datetime | None = None) -> dict:
    """The user's grants in force now and the whole history of grants and withdrawals."""
    at = at or dt.datetime.now(dt.timezone.utc)
    history = store.scan("consent").filter(pl.col("user_id") == user_id).sort("ts").collect()
    active = active_grants(history, at).sort("scope", "purpose").collect()
    return {
        "user_id": user_id,
        "at": at.isoformat(),
        "active": [{**row, "granted_at": row["granted_at"].isoformat()} for row in active.iter_rows(named=True)],
        "history": [
            {
                "event_id": row["event_id"],
                "ts": row["ts"].isoformat(),
                "scope": str(row["scope"]),
                "action": str(row["action"]),
                "purposes": list(row["purposes"]),
                "text_version": row["text_version"],
                "text_hash": row["text_hash"],
            }
            for row in history.iter_rows(named=True)
        ],
    }
