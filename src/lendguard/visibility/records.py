"""The user-facing decision record: every decision served is stored once and logged as evidence.

The record id is derived from the document's canonical JSON, so serving the same decision
again (from the cache, or recomputed unchanged) adds nothing, and any changed decision
is a new record with its own leaf.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import msgspec
from sqlalchemy import Column, DateTime, MetaData, String, Table, Text, insert, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from lendguard.evidence import EvidenceLog, canonical_json
from lendguard.evidence.shared import SharedLog

DECISION_KIND = "decision"
KEPT_IN_MEMORY = 100_000
_FAST = msgspec.json.Encoder(order="sorted")  # deterministic for equal documents; only a memo key
metadata = MetaData()

decision_records = Table(
    "decision_records",
    metadata,
    Column("record_id", String, primary_key=True),
    Column("user_id", String, nullable=False, index=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("document", Text, nullable=False),  # canonical JSON, exactly what was hashed
)


def record_id_of(document: Mapping[str, Any]) -> str:
    return "decision-" + hashlib.sha256(canonical_json(document)).hexdigest()[:32]


class DecisionRecords:
    """Stores served decisions and appends each new one to the evidence log.

    `log` is the process's shared evidence log (a server passes its own); without one,
    a log for `data_dir` is opened on the first new decision and kept until `close`.
    """

    def __init__(self, engine: Engine, data_dir: Path, log: SharedLog | None = None):
        self.engine = engine
        self.data_dir = Path(data_dir)
        self.log = log or SharedLog(self.data_dir)
        metadata.create_all(engine, tables=[decision_records])
        # Documents this process has stored already: a fast digest -> record id, so a
        # decision served again skips the canonical encoding and the lookup.
        self.kept: OrderedDict[bytes, str] = OrderedDict()
        self.kept_lock = threading.Lock()

    def close(self) -> None:
        self.log.close()

    def keep(self, document: Mapping[str, Any]) -> str:
        """The record id of `document`, storing and logging it the first time it is served."""
        digest = hashlib.sha256(_FAST.encode(document)).digest()
        with self.kept_lock:
            known = self.kept.get(digest)
            if known is not None:
                self.kept.move_to_end(digest)
                return known
        record_id = self._store(document)
        with self.kept_lock:
            self.kept[digest] = record_id
            if len(self.kept) > KEPT_IN_MEMORY:
                self.kept.popitem(last=False)
        return record_id

    def _store(self, document: Mapping[str, Any]) -> str:
        record_id = record_id_of(document)
        with self.engine.connect() as conn:
            if conn.execute(select(decision_records.c.record_id).where(decision_records.c.record_id == record_id)).first():
                return record_id
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    insert(decision_records).values(
                        record_id=record_id,
                        user_id=document["user_id"],
                        created_at=dt.datetime.now(dt.timezone.utc),
                        document=canonical_json(document).decode(),
                    )
                )
        except IntegrityError:
            return record_id  # a concurrent request stored it first; it logs it
        self.log.get().append(DECISION_KIND, record_id, document)
        return record_id

    def for_user(self, user_id: str) -> list[dict[str, Any]]:
        query = select(decision_records).where(decision_records.c.user_id == user_id).order_by(decision_records.c.created_at)
        with self.engine.connect() as conn:
            return [{"record_id": r.record_id, "created_at": r.created_at, "document": json.loads(r.document)} for r in conn.execute(query)]


def decision_records_by_id(data_dir: str | Path) -> Callable[[Sequence[str]], Mapping[str, Mapping[str, Any]]]:
    from lendguard.store.catalog import catalog_engine

    engine = catalog_engine(Path(data_dir))
    metadata.create_all(engine, tables=[decision_records])

    def records(ids: Sequence[str]) -> Mapping[str, Mapping[str, Any]]:
        with engine.connect() as conn:
            rows = conn.execute(select(decision_records).where(decision_records.c.record_id.in_(list(ids)))).all()
        return {r.record_id: json.loads(r.document) for r in rows}

    return records


def sync_decisions(data_dir: str | Path, log: EvidenceLog) -> int:
    """`lendguard evidence sync`: append stored decision records a crash left without a leaf."""
    from lendguard.consent.evidence import logged_ids
    from lendguard.store.catalog import catalog_engine

    engine = catalog_engine(Path(data_dir))
    metadata.create_all(engine, tables=[decision_records])
    logged = set(logged_ids(log, DECISION_KIND))
    with engine.connect() as conn:
        rows = [r for r in conn.execute(select(decision_records.c.record_id, decision_records.c.document)) if r.record_id not in logged]
    log.append_many((DECISION_KIND, r.record_id, json.loads(r.document)) for r in rows)
    return len(rows)
