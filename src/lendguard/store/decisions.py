"""The decision cache: each user's latest decision row, so serving a decision is a key lookup.

A population run fills it; ingesting a user's events drops that user's row, and a row
computed on another day or under another policy is not served. A miss is computed
fresh by the same engine and put back.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import threading
from collections.abc import Iterable
from typing import NamedTuple
from zoneinfo import ZoneInfo

import polars as pl
from sqlalchemy import Column, DateTime, String, Table, Text, delete, select
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine

from lendguard.store.catalog import metadata

decision_cache = Table(
    "decision_cache",
    metadata,
    Column("user_id", String, primary_key=True),
    Column("as_of", DateTime(timezone=True), nullable=False),
    Column("policy_sha256", String, nullable=False),
    Column("row", Text, nullable=False),
)

_CHUNK = 20_000


class CachedRow(NamedTuple):
    """A cached decision row as stored (JSON text) and the moment it was decided."""

    text: str
    decided_at: dt.datetime  # timezone-aware, UTC


class DecisionCache:
    def __init__(self, engine: Engine, timezone: str):
        self.engine = engine
        self.timezone = ZoneInfo(timezone)
        self._structs: dict[int, tuple[pl.Schema, pl.Struct]] = {}
        metadata.create_all(engine, tables=[decision_cache])
        # Serving reads one row per request: through a plain sqlite3 connection per thread
        # (a prepared statement) rather than SQLAlchemy's pool and statement compiler,
        # which cost more than the read itself.
        database = engine.url.database if engine.dialect.name == "sqlite" else None
        self._file = database if database and database != ":memory:" else None
        self._readers = threading.local()

    def put(self, decisions: pl.DataFrame, as_of: dt.datetime, policy_sha256: str) -> int:
        """Store (replace) the decision rows of every user in `decisions`."""
        encoded = decisions.select(pl.col("user_id"), pl.struct(pl.all()).struct.json_encode().alias("row"))
        count = 0
        with self.engine.begin() as conn:
            for chunk in encoded.iter_slices(_CHUNK):
                values = [
                    {"user_id": user_id, "as_of": as_of, "policy_sha256": policy_sha256, "row": row}
                    for user_id, row in chunk.iter_rows()
                ]
                statement = sqlite_insert(decision_cache).values(values)
                statement = statement.on_conflict_do_update(
                    index_elements=["user_id"],
                    set_={"as_of": statement.excluded.as_of, "policy_sha256": statement.excluded.policy_sha256, "row": statement.excluded.row},
                )
                conn.execute(statement)
                count += len(values)
        return count

    def _struct(self, schema: pl.Schema) -> pl.Struct:
        """The row's struct type, built once per schema (building it costs more than the decode)."""
        cached = self._structs
        if id(schema) not in cached or cached[id(schema)][0] is not schema:
            cached[id(schema)] = (schema, pl.Struct(schema))
        return cached[id(schema)][1]

    def get(self, user_id: str, as_of: dt.datetime, policy_sha256: str, schema: pl.Schema) -> dict | None:
        """The cached row if it was decided on the same local day under the same policy."""
        cached = self.raw(user_id, as_of, policy_sha256)
        return None if cached is None else self.decode(cached.text, schema)

    def raw(self, user_id: str, as_of: dt.datetime, policy_sha256: str) -> CachedRow | None:
        """The cached row, undecoded, if it was decided on the same local day under the same policy."""
        found = self._read(user_id)
        if found is None or found[1] != policy_sha256:
            return None
        cached_at = found[0]
        if isinstance(cached_at, str):  # SQLite's text form, as SQLAlchemy writes it (UTC, no zone)
            cached_at = dt.datetime.fromisoformat(cached_at)
        cached_at = cached_at if cached_at.tzinfo else cached_at.replace(tzinfo=dt.timezone.utc)
        if cached_at.astimezone(self.timezone).date() != as_of.astimezone(self.timezone).date():
            return None
        return CachedRow(found[2], cached_at.astimezone(dt.timezone.utc))

    def _read(self, user_id: str) -> tuple | None:
        """(as_of, policy_sha256, row) of the user's cached row."""
        if self._file is None:
            with self.engine.connect() as conn:
                return conn.execute(
                    select(decision_cache.c.as_of, decision_cache.c.policy_sha256, decision_cache.c.row).where(decision_cache.c.user_id == user_id)
                ).first()
        reader = getattr(self._readers, "connection", None)
        if reader is None:
            reader = sqlite3.connect(self._file, check_same_thread=False, cached_statements=8)
            reader.execute("PRAGMA busy_timeout=30000")
            self._readers.connection = reader
        return reader.execute("SELECT as_of, policy_sha256, row FROM decision_cache WHERE user_id = ?", (user_id,)).fetchone()

    def decode(self, raw: str, schema: pl.Schema) -> dict:
        decoded = pl.DataFrame({"row": [raw]}).select(pl.col("row").str.json_decode(self._struct(schema))).unnest("row")
        return decoded.row(0, named=True)

    def invalidate(self, user_ids: Iterable[str]) -> None:
        ids = list(set(user_ids))
        with self.engine.begin() as conn:
            for start in range(0, len(ids), 500):
                conn.execute(delete(decision_cache).where(decision_cache.c.user_id.in_(ids[start : start + 500])))

    def clear(self) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(decision_cache))
