"""Accept a batch of raw events: validate each, store the good ones, keep the bad ones.

The one path by which events enter the system, shared by `lendguard ingest`,
`lendguard evaluate --events` and `POST /v1/events`.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from lendguard.events.columns import events_to_frames
from lendguard.events.validation import EventValidator, Rejection
from lendguard.policy import Policy
from lendguard.security.masking import mask_text
from lendguard.store.decisions import DecisionCache
from lendguard.store.events import EventStore


@dataclass
class IngestReport:
    received: int = 0
    accepted: int = 0
    stored: int = 0
    duplicates: list[str] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)
    dead_letter: str | None = None
    events: list = field(default_factory=list, repr=False)  # the accepted events, decoded


class DeadLetter:
    """Rejected events, one JSON object per line with the reason, kept for inspection."""

    def __init__(self, path: Path):
        self.path = path

    def write(self, rejections: list[Rejection]) -> None:
        if not rejections:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        now = dt.datetime.now(dt.timezone.utc).isoformat()
        with open(self.path, "a", encoding="utf-8") as handle:
            for rejection in rejections:
                # Kept for inspection, with ID, card and mobile numbers masked: a rejected
                # event never reached the consent gate, so its personal data is not ours to keep.
                handle.write(mask_text(json.dumps({"rejected_at": now, **rejection.to_record()}, ensure_ascii=False)) + "\n")
            handle.flush()
            os.fsync(handle.fileno())

    def read(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        with open(self.path, encoding="utf-8") as handle:
            return [json.loads(line) for line in handle if line.strip()]


def dead_letter_for(data_dir: Path) -> DeadLetter:
    return DeadLetter(Path(data_dir) / "dead_letter" / "rejected.jsonl")


def validate_batch(
    items: Iterable[tuple[int, Any]], source: str, policy: Policy, now: dt.datetime | None = None
) -> tuple[dict[str, pl.DataFrame], list[Rejection], int]:
    """Validate raw events; returns typed frames of the accepted ones, the rejections, the count."""
    accepted, rejected, received = validate_events(items, source, policy, now)
    return events_to_frames(accepted), rejected, received


def validate_events(
    items: Iterable[tuple[int, Any]], source: str, policy: Policy, now: dt.datetime | None = None
) -> tuple[list, list[Rejection], int]:
    """Validate raw events; returns the accepted events (decoded), the rejections, the count."""
    validator = EventValidator(policy.events, now=now, policy=policy)
    items = list(items)
    result = validator.validate_many(items, source)
    return result.accepted, result.rejected, len(items)


def ingest(
    items: Iterable[tuple[int, Any]],
    source: str,
    store: EventStore,
    policy: Policy,
    dead_letter: DeadLetter | None = None,
    now: dt.datetime | None = None,
) -> IngestReport:
    """Validate, store accepted events (idempotently by event id), and dead-letter the rejected."""
    accepted, rejected, received = validate_events(items, source, policy, now)
    frames = events_to_frames(accepted)
    dead_letter = dead_letter or dead_letter_for(store.data_dir)
    # Rejections are kept before anything is acknowledged, so none can be lost.
    dead_letter.write(rejected)
    report = IngestReport(received=received, rejected=rejected, dead_letter=str(dead_letter.path) if rejected else None, events=accepted)
    report.accepted = sum(f.height for f in frames.values())
    if report.accepted:
        stored = store.append(frames, source)
        report.stored = stored.stored
        report.duplicates = stored.duplicates
        # Cached decisions of these users no longer reflect their events.
        users = {u for frame in frames.values() for u in frame["user_id"].unique().to_list()}
        DecisionCache(store.engine, policy.timezone).invalidate(users)
        consents = frames.get("consent")
        if consents is not None and consents.height:
            _log_consents(store, consents["event_id"].to_list())
    return report


def _log_consents(store: EventStore, event_ids: list[str]) -> None:
    """Every stored grant and withdrawal becomes an evidence leaf (after the store commits;
    `lendguard evidence sync` appends any a crash left out)."""
    from lendguard.consent.evidence import log_consents
    from lendguard.evidence import EvidenceLog

    with EvidenceLog.open(store.data_dir) as log:
        log_consents(store, log, event_ids)
