"""Loan contracts as evidence: each contract is a leaf of the evidence log (SPEC §6).

The record is the contract's hash, terms and both texts; `lendguard evidence audit`
reads it back through `contract_records_by_id` (an entry point) and `lendguard evidence
sync` appends contracts a crash left without a leaf.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from lendguard.evidence import EvidenceLog
from lendguard.loans.models import Contract

CONTRACT_KIND = "loan_contract"


def contract_record(row: Any) -> dict[str, Any]:
    """The canonical record of a stored contract row (what the leaf hashes)."""
    return {"loan_id": row.loan_id, "sha256": row.sha256, "terms": json.loads(row.terms_json), "text_zh": row.text_zh, "text_en": row.text_en}


def _rows(sessions: sessionmaker[Session], ids: Sequence[str] | None = None) -> list[Contract]:
    with sessions() as session:
        query = select(Contract).order_by(Contract.loan_id)
        if ids is None:
            return list(session.execute(query).scalars())
        found: list[Contract] = []
        for start in range(0, len(ids), 500):
            found += session.execute(query.where(Contract.loan_id.in_(list(ids[start : start + 500])))).scalars().all()
        return found


def contract_records_by_id(data_dir: str | Path) -> Callable[[Sequence[str]], Mapping[str, Mapping[str, Any]]]:
    from lendguard.loans.database import open_ledger

    sessions = open_ledger(data_dir)  # once per audit, not once per batch of ids

    def records(ids: Sequence[str]) -> Mapping[str, Mapping[str, Any]]:
        return {row.loan_id: contract_record(row) for row in _rows(sessions, ids)}

    return records


def sync_contracts(data_dir: str | Path, log: EvidenceLog) -> int:
    """Append stored contracts a crash left without a leaf."""
    from lendguard.consent.evidence import logged_ids
    from lendguard.loans.database import open_ledger

    sessions = open_ledger(data_dir)
    try:
        logged = set(logged_ids(log, CONTRACT_KIND))
        missing = [row for row in _rows(sessions) if row.loan_id not in logged]
    finally:
        sessions.kw["bind"].dispose()
    log.append_many((CONTRACT_KIND, row.loan_id, contract_record(row)) for row in missing)
    return len(missing)
