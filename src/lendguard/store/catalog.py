"""The data directory's catalogue (SQLite): committed event batches, event ids, risk states.

A Parquet part file counts as stored only once its batch row is committed here, in
the same transaction that records its event ids; a crash between writing the file
and committing leaves an orphan file that readers never see and `recover` removes.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
)
from sqlalchemy.engine import Engine

metadata = MetaData()

batches = Table(
    "event_batches",
    metadata,
    Column("batch_id", String, primary_key=True),
    Column("event_type", String, primary_key=True),
    Column("part_path", String, nullable=False),
    Column("rows", Integer, nullable=False),
    Column("source", String, nullable=False),
    Column("ids_registered", Boolean, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

event_ids = Table(
    "event_ids",
    metadata,
    Column("event_id", String, primary_key=True),
    Column("batch_id", String, nullable=False),
)

risk_states = Table(
    "risk_states",
    metadata,
    # The current anti-fraud risk level per user, written by the fraud engine.
    Column("user_id", String, primary_key=True),
    Column("level", String, nullable=False),  # R0 | R1 | R2 | R3
    Column("since", DateTime(timezone=True), nullable=False),
    Column("recovers_at", DateTime(timezone=True), nullable=True),
    Column("rule_id", String, nullable=True),
    Column("evidence", Text, nullable=True),
)


def catalog_engine(data_dir: Path) -> Engine:
    data_dir.mkdir(parents=True, exist_ok=True)
    engine = create_engine(f"sqlite:///{data_dir / 'catalog.sqlite'}", future=True)

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection, _record):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    metadata.create_all(engine)
    return engine


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def as_utc(value: dt.datetime | None) -> dt.datetime | None:
    """A time in UTC; a naive one is taken as UTC already (SQLite returns stored UTC times
    naive, and CLI/API inputs without a zone are documented as UTC)."""
    if value is None:
        return None
    return value.replace(tzinfo=dt.timezone.utc) if value.tzinfo is None else value.astimezone(dt.timezone.utc)
