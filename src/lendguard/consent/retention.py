"""Retention: delete raw rows past their category's retention period, or after a withdrawal.

`schedule` says what is due and when (pure); `run_retention` deletes what is due from
every store that holds raw rows (the event parts, the dead-letter file, cached
decisions) and writes one deletion record per category, type and reason.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import dataclass, field

import polars as pl
from sqlalchemy import (
    Column,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    insert,
    select,
)
from sqlalchemy.engine import Engine

from lendguard.consent.state import withdrawals
from lendguard.events.ingest import dead_letter_for
from lendguard.policy import Policy
from lendguard.store.decisions import DecisionCache
from lendguard.store.events import EventStore
from lendguard.store.files import write_atomically

metadata = MetaData()

deletions = Table(
    "deletions",
    metadata,
    Column("deletion_id", String, primary_key=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("category", String, nullable=False),
    Column("event_type", String, nullable=False),
    Column("reason", String, nullable=False),  # retention_period | withdrawal
    Column("cutoff", DateTime(timezone=True), nullable=True),  # retention_period: rows before this
    Column("users", Integer, nullable=False),  # withdrawal: how many users' rows
    Column("user_ids", Text, nullable=True),  # withdrawal: JSON list of the users
    Column("rows", Integer, nullable=False),
    Column("dead_letter_rows", Integer, nullable=False),
)


@dataclass(frozen=True)
class Schedule:
    cutoffs: dict[str, dt.datetime]  # category -> rows before this are past retention
    withdrawn: pl.DataFrame  # user_id, scope, category, withdrawn_at, delete_at, due


@dataclass
class RetentionReport:
    records: list[dict] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return sum(r["rows"] for r in self.records)


def ensure_tables(engine: Engine) -> None:
    metadata.create_all(engine, tables=[deletions])


def schedule(consents: pl.LazyFrame, policy: Policy, now: dt.datetime) -> Schedule:
    """What retention deletes at `now`, and the withdrawals still waiting for their date."""
    categories = policy.consent.categories
    cutoffs = {name: now - dt.timedelta(days=c.retention_days) for name, c in categories.items()}
    scopes = pl.DataFrame(
        {
            "scope": [c.scope for c in categories.values()],
            "category": list(categories),
            "after_days": [c.deletion_days_after_withdrawal for c in categories.values()],
        }
    )
    withdrawn = (
        withdrawals(consents, now)
        .collect()
        .join(scopes, on="scope", how="inner")
        .with_columns((pl.col("withdrawn_at") + pl.duration(days=pl.col("after_days"))).alias("delete_at"))
        .with_columns((pl.col("delete_at") <= now).alias("due"))
        .select("user_id", "scope", "category", "withdrawn_at", "delete_at", "due")
        .sort("delete_at", "user_id", "category")
    )
    return Schedule(cutoffs, withdrawn)


def run_retention(store: EventStore, policy: Policy, now: dt.datetime | None = None) -> RetentionReport:
    """Delete every due row from every store and record each deletion."""
    now = now or dt.datetime.now(dt.timezone.utc)
    ensure_tables(store.engine)
    plan = schedule(store.scan("consent"), policy, now)
    report = RetentionReport()
    touched_users: set[str] = set()
    for name, category in policy.consent.categories.items():
        due_users = plan.withdrawn.filter(pl.col("due") & (pl.col("category") == name))["user_id"].unique().sort().to_list()
        for event_type in category.event_types:
            cutoff = plan.cutoffs[name]
            old_rows = store.scan(event_type).filter(pl.col("ts") < cutoff).select("user_id").unique().collect()["user_id"].to_list()
            aged = store.delete_rows(event_type, pl.col("ts") < cutoff)
            aged_letters = _purge_dead_letter(store, event_type, None, cutoff)
            if aged or aged_letters:
                report.records.append(_record(now, name, event_type, "retention_period", cutoff, old_rows, aged, aged_letters))
                touched_users.update(old_rows)
            if due_users:
                gone = store.delete_rows(event_type, pl.col("user_id").is_in(due_users))
                letters = _purge_dead_letter(store, event_type, set(due_users), None)
                if gone or letters:
                    report.records.append(_record(now, name, event_type, "withdrawal", None, due_users, gone, letters))
                    touched_users.update(due_users)
    if report.records:
        with store.engine.begin() as conn:
            conn.execute(insert(deletions), report.records)
        from lendguard.consent.evidence import DELETION_KIND, deletion_record
        from lendguard.evidence import EvidenceLog

        with EvidenceLog.open(store.data_dir) as log:
            log.append_many((DELETION_KIND, r["deletion_id"], deletion_record(r)) for r in report.records)
        # Cached decisions hold values measured from the deleted rows.
        DecisionCache(store.engine, policy.timezone).invalidate(touched_users)
    return report


def deletion_records(engine: Engine) -> list[dict]:
    ensure_tables(engine)
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(select(deletions).order_by(deletions.c.at, deletions.c.deletion_id))]


def _record(now, category, event_type, reason, cutoff, users, rows, letters) -> dict:
    return {
        "deletion_id": f"del-{uuid.uuid4().hex}",
        "at": now,
        "category": category,
        "event_type": event_type,
        "reason": reason,
        "cutoff": cutoff,
        "users": len(users),
        "user_ids": json.dumps(sorted(users)) if reason == "withdrawal" else None,
        "rows": rows,
        "dead_letter_rows": letters,
    }


def _purge_dead_letter(store: EventStore, event_type: str, users: set[str] | None, cutoff: dt.datetime | None) -> int:
    """Rewrite the dead-letter file without the rejected events of this type that are due:
    those of `users`, or those whose own time is before `cutoff`."""
    letter = dead_letter_for(store.data_dir)
    if not letter.path.exists():
        return 0
    kept, removed = [], 0
    with open(letter.path, encoding="utf-8") as handle:
        lines = handle.readlines()
    for line in lines:
        if _doomed_letter(line, event_type, users, cutoff):
            removed += 1
        else:
            kept.append(line)
    if removed:
        write_atomically(letter.path, "".join(kept).encode("utf-8"))
    return removed


def _doomed_letter(line: str, event_type: str, users: set[str] | None, cutoff: dt.datetime | None) -> bool:
    try:
        raw = json.loads(json.loads(line).get("raw") or "null")
    except (ValueError, TypeError):
        return False
    if not isinstance(raw, dict) or raw.get("type") != event_type:
        return False
    if users is not None:
        return raw.get("user_id") in users
    try:
        ts = dt.datetime.fromisoformat(str(raw.get("ts")))
    except ValueError:
        return False
    return ts.tzinfo is not None and cutoff is not None and ts < cutoff
