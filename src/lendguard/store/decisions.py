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
from sqlalchemy import Column, DateTime, String, Table, Text, delete
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, Engine

from lendguard.store.catalog import metadata

decision_cache = Table(
    "decision_cache",
    metadata,
    Column("user_id", String, primary_key=True),
    Column("as_of", DateTime(timezone=True), nullable=False),
    Column("policy_sha256", String, nullable=False),
    Column("row", Text, nullable=False),
)

# The document each cached row was rendered into, shared by every server process: a
# process meeting a row another one rendered reads the document instead of rendering it
# again. `row_digest` ties it to the exact row (and moment and key) it was rendered from.
rendered_decisions = Table(
    "rendered_decisions",
    metadata,
    Column("user_id", String, primary_key=True),
    Column("row_digest", String, nullable=False),
    Column("document", Text, nullable=False),
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
        metadata.create_all(engine, tables=[decision_cache, rendered_decisions])
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
        found = self._fetch_one("SELECT as_of, policy_sha256, row FROM decision_cache WHERE user_id = ?", user_id)
        if found is None or found[1] != policy_sha256:
            return None
        cached_at = dt.datetime.fromisoformat(found[0])  # SQLite's text form, as SQLAlchemy writes it
        cached_at = cached_at if cached_at.tzinfo else cached_at.replace(tzinfo=dt.timezone.utc)
        if cached_at.astimezone(self.timezone).date() != as_of.astimezone(self.timezone).date():
            return None
        return CachedRow(found[2], cached_at.astimezone(dt.timezone.utc))

    def rendered(self, user_id: str, row_digest: str) -> str | None:
        """The document rendered from the row with this digest, if any process kept one."""
        found = self._fetch_one("SELECT row_digest, document FROM rendered_decisions WHERE user_id = ?", user_id)
        return found[1] if found is not None and found[0] == row_digest else None

    def _fetch_one(self, sql: str, *parameters) -> tuple | None:
        """One row of a read on the hot path, as the SQLite driver gives it: through this
        thread's own connection to the file, or (an in-memory database) the engine's."""
        if self._file is None:
            with self.engine.connect() as conn:
                return conn.exec_driver_sql(sql, parameters).first()
        reader = getattr(self._readers, "connection", None)
        if reader is None:
            reader = sqlite3.connect(self._file, check_same_thread=False, cached_statements=8)
            reader.execute("PRAGMA busy_timeout=30000")
            self._readers.connection = reader
        return reader.execute(sql, parameters).fetchone()

    def keep_rendered(self, user_id: str, row_digest: str, document: str) -> None:
        statement = sqlite_insert(rendered_decisions).values(user_id=user_id, row_digest=row_digest, document=document)
        statement = statement.on_conflict_do_update(index_elements=["user_id"], set_={"row_digest": statement.excluded.row_digest, "document": statement.excluded.document})
        with self.engine.begin() as conn:
            conn.execute(statement)

    def decode(self, raw: str, schema: pl.Schema) -> dict:
        decoded = pl.DataFrame({"row": [raw]}).select(pl.col("row").str.json_decode(self._struct(schema))).unnest("row")
        return decoded.row(0, named=True)

    def invalidate(self, user_ids: Iterable[str]) -> None:
        with self.engine.begin() as conn:
            forget_decisions(conn, user_ids)

    def clear(self) -> None:
        with self.engine.begin() as conn:
            for table in (decision_cache, rendered_decisions):
                conn.execute(delete(table))


def forget_decisions(conn: Connection, user_ids: Iterable[str]) -> None:
    """Drop the users' cached rows and their renderings, inside the caller's transaction."""
    ids = list(set(user_ids))
    for start in range(0, len(ids), 500):
        for table in (decision_cache, rendered_decisions):
            conn.execute(delete(table).where(table.c.user_id.in_(ids[start : start + 500])))
