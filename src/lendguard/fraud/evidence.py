"""Risk transitions as evidence: each stored transition is a leaf of the evidence log.

A transition raises or lowers what a user may see; like a decision it must be provable
afterwards (SPEC §6). The record is the stored row in canonical form; `lendguard evidence
audit` reads it back through `transition_records_by_id` (an entry point), and `lendguard
evidence sync` appends the rows a crash left without a leaf.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import select

from lendguard.evidence import EvidenceLog
from lendguard.fraud.book import Transition, metadata, risk_transitions
from lendguard.store.catalog import as_utc, catalog_engine

TRANSITION_KIND = "risk_transition"


def transition_record(row: Mapping[str, Any]) -> dict[str, Any]:
    """The canonical record of a stored transition (what the leaf hashes)."""
    return {
        "transition_id": row["transition_id"],
        "user_id": row["user_id"],
        "from_level": row["from_level"],
        "to_level": row["to_level"],
        "at": as_utc(row["at"]),
        "rule_id": row["rule_id"],
        "rule_key": row["rule_key"],
        "evidence": json.loads(row["evidence"]) if isinstance(row["evidence"], str) else list(row["evidence"]),
        "details": json.loads(row["details"]) if isinstance(row["details"], str) else dict(row["details"]),
    }


def log_transitions(log: EvidenceLog, made: Iterable[Transition]) -> int:
    """Append a leaf per new transition (in the order they were made)."""
    items = []
    for t in made:
        row = t.row(recorded_at=None)
        items.append((TRANSITION_KIND, t.transition_id, transition_record(row)))
    if items:
        log.append_many(items)
    return len(items)


def _rows(data_dir: str | Path, ids: Sequence[str] | None = None) -> list[Mapping[str, Any]]:
    engine = catalog_engine(Path(data_dir))
    metadata.create_all(engine, tables=[risk_transitions])
    query = select(risk_transitions)
    rows: list[Mapping[str, Any]] = []
    with engine.connect() as conn:
        if ids is None:
            return [r._mapping for r in conn.execute(query.order_by(risk_transitions.c.recorded_at, risk_transitions.c.transition_id))]
        for start in range(0, len(ids), 500):
            rows += [r._mapping for r in conn.execute(query.where(risk_transitions.c.transition_id.in_(list(ids[start : start + 500]))))]
    return rows


def transition_records_by_id(data_dir: str | Path) -> Callable[[Sequence[str]], Mapping[str, Mapping[str, Any]]]:
    def records(ids: Sequence[str]) -> Mapping[str, Mapping[str, Any]]:
        return {row["transition_id"]: transition_record(row) for row in _rows(data_dir, ids)}

    return records


def sync_transitions(data_dir: str | Path, log: EvidenceLog) -> int:
    """`lendguard evidence sync`: append stored transitions a crash left without a leaf."""
    from lendguard.consent.evidence import logged_ids

    logged = set(logged_ids(log, TRANSITION_KIND))
    missing = [row for row in _rows(data_dir) if row["transition_id"] not in logged]
    log.append_many((TRANSITION_KIND, row["transition_id"], transition_record(row)) for row in missing)
    return len(missing)
