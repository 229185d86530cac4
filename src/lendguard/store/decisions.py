"""The decision cache: each user's latest decision row, so serving a decision is a key lookup.

A population run fills it; ingesting a user's events drops that user's row, and a row
computed on another day or under another policy is not served. A miss is computed
fresh by the same engine and put back.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
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


class DecisionCache:
    def __init__(self, engine: Engine, timezone: str):
        self.engine = engine
        self.timezone = ZoneInfo(timezone)
        self._structs: dict[int, tuple[pl.Schema, pl.Struct]] = {}
        metadata.create_all(engine, tables=[decision_cache])

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
        raw = self.raw(user_id, as_of, policy_sha256)
        return None if raw is None else self.decode(raw, schema)

    def raw(self, user_id: str, as_of: dt.datetime, policy_sha256: str) -> str | None:
        """The cached row's JSON text, if it was decided on the same local day under the same policy."""
        with self.engine.connect() as conn:
            found = conn.execute(
                select(decision_cache.c.as_of, decision_cache.c.policy_sha256, decision_cache.c.row).where(
                    decision_cache.c.user_id == user_id
                )
            ).first()
        if found is None or found.policy_sha256 != policy_sha256:
            return None
        cached_at = found.as_of if found.as_of.tzinfo else found.as_of.replace(tzinfo=dt.timezone.utc)
        if cached_at.astimezone(self.timezone).date() != as_of.astimezone(self.timezone).date():
            return None
        return found.row

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
