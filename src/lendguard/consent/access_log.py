"""The access log: every read through the data gate, kept for the regulator (SPEC §4).

A single-user read is one row per use with the user id. A population read is one row
per use with the number of users, and the users themselves go to a Parquet file
beside the log (a million ids per row would not belong in a SQL table); the export
expands both into one line per user, use and read.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Collection, Mapping
from pathlib import Path

import polars as pl
from sqlalchemy import (
    Column,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    insert,
    select,
)
from sqlalchemy.engine import Engine

from lendguard.consent.gate import GatedData
from lendguard.consent.uses import DataUse, EngineUses
from lendguard.store.catalog import as_utc

metadata = MetaData()

access_log = Table(
    "data_access_log",
    metadata,
    Column("access_id", String, primary_key=True),
    Column("read_id", String, nullable=False, index=True),  # one gate read, several uses
    Column("at", DateTime(timezone=True), nullable=False, index=True),
    Column("actor", String, nullable=False),  # who asked: a CLI user, an API caller, a job
    Column("engine", String, nullable=False),
    Column("purpose", String, nullable=False),
    Column("category", String, nullable=False),
    Column("form", String, nullable=False),
    Column("user_id", String, nullable=True, index=True),  # a single-user read
    Column("user_count", Integer, nullable=False),
    Column("users_file", String, nullable=True),  # a population read: its users, Parquet
    Column("users_column", String, nullable=True),
)

EXPORT_SCHEMA = pl.Schema(
    {
        "at": pl.Datetime("us", "UTC"),
        "read_id": pl.String,
        "actor": pl.String,
        "engine": pl.String,
        "purpose": pl.String,
        "category": pl.String,
        "form": pl.String,
        "user_id": pl.String,
    }
)


class AccessLog:
    """Appends gate reads to the catalogue and exports them for a period."""

    def __init__(self, engine: Engine, data_dir: Path):
        self.engine = engine
        self.folder = Path(data_dir) / "access_log"
        metadata.create_all(engine, tables=[access_log])

    def record(self, gated: GatedData, uses: EngineUses, actor: str, user_id: str | None = None, at: dt.datetime | None = None) -> str:
        """Log one gate read; returns its read id. A population read writes its users file."""
        at = at or dt.datetime.now(dt.timezone.utc)
        read_id = uuid.uuid4().hex
        users_file = None
        if user_id is None:
            self.folder.mkdir(parents=True, exist_ok=True)
            path = self.folder / f"{at:%Y%m%dT%H%M%S}-{read_id}.parquet"
            gated.availability.select("user_id", *[u.key for u in uses.uses]).write_parquet(path, compression="zstd")
            users_file = str(path.relative_to(self.folder.parent))
        rows = []
        for use, users in gated.allowed.items():
            count = users.height if user_id is None else int(users.filter(pl.col("user_id") == user_id).height)
            if user_id is not None and count == 0:
                continue  # nothing of this use was given out for this user
            rows.append(
                {
                    "access_id": uuid.uuid4().hex,
                    "read_id": read_id,
                    "at": at,
                    "actor": actor,
                    "engine": uses.engine,
                    "purpose": use.purpose,
                    "category": use.category,
                    "form": use.form,
                    "user_id": user_id,
                    "user_count": count,
                    "users_file": users_file,
                    "users_column": use.key if users_file else None,
                }
            )
        if rows:
            with self.engine.begin() as conn:
                conn.execute(insert(access_log), rows)
        return read_id

    def record_reads(self, engine_name: str, reads: Mapping[DataUse, Collection[str]], actor: str, at: dt.datetime | None = None) -> str | None:
        """Log a streaming engine's reads since its last report: the users each use read."""
        reads = {use: users for use, users in reads.items() if users}
        if not reads:
            return None
        users = sorted(set().union(*reads.values()))
        frame = pl.DataFrame({"user_id": users}).with_columns(
            pl.col("user_id").is_in(pl.Series(list(members)).implode()).alias(use.key) for use, members in reads.items()
        )
        allowed = {use: pl.DataFrame({"user_id": sorted(members)}) for use, members in reads.items()}
        gated = GatedData({}, {}, frame, allowed, at or dt.datetime.now(dt.timezone.utc), frame.lazy().select("user_id"))
        return self.record(gated, EngineUses(engine_name, tuple(reads)), actor, at=at)

    def entries(self, start: dt.datetime | None = None, end: dt.datetime | None = None) -> list[dict]:
        query = select(access_log).order_by(access_log.c.at, access_log.c.access_id)
        if start is not None:
            query = query.where(access_log.c.at >= start)
        if end is not None:
            query = query.where(access_log.c.at < end)
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    def export(self, start: dt.datetime | None = None, end: dt.datetime | None = None, user_id: str | None = None) -> pl.DataFrame:
        """One row per read, use and user in [start, end): what the regulator asks for."""
        parts = []
        single = []
        for entry in self.entries(start, end):
            head = {k: entry[k] for k in ("read_id", "actor", "engine", "purpose", "category", "form")}
            at = as_utc(entry["at"])
            if entry["users_file"] is None:
                if user_id is None or entry["user_id"] == user_id:
                    single.append({"at": at, **head, "user_id": entry["user_id"]})
                continue
            users = pl.scan_parquet(self.folder.parent / entry["users_file"]).filter(pl.col(entry["users_column"]))
            if user_id is not None:
                users = users.filter(pl.col("user_id") == user_id)
            parts.append(users.select(pl.lit(at).alias("at"), *[pl.lit(v).alias(k) for k, v in head.items()], "user_id").collect())
        if single:
            parts.append(pl.DataFrame(single, schema=EXPORT_SCHEMA))
        if not parts:
            return pl.DataFrame(schema=EXPORT_SCHEMA)
        return pl.concat([p.cast(EXPORT_SCHEMA) for p in parts]).sort("at", "read_id", "category", "user_id")
