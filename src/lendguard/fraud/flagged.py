"""Accounts flagged from outside the engine (a partner's list, the police, an analyst).

Fund flows with them trigger the `flagged_link` rules like flows with users the
engine itself raised to R2 or R3.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from sqlalchemy import Column, DateTime, MetaData, String, Table, insert, select
from sqlalchemy.engine import Engine

from lendguard.store.catalog import risk_states, utcnow

metadata = MetaData()

flagged_account_table = Table(
    "fraud_flagged_accounts",
    metadata,
    Column("account_id", String, primary_key=True),
    Column("reason", String, nullable=False),
    Column("flagged_by", String, nullable=False),
    Column("flagged_at", DateTime(timezone=True), nullable=False),
)


def flag_accounts(engine: Engine, accounts: Iterable[str], reason: str, flagged_by: str, at: dt.datetime | None = None) -> int:
    """Add accounts to the list (an account already listed keeps its first entry)."""
    known = listed_accounts(engine)
    rows = [
        {"account_id": a, "reason": reason, "flagged_by": flagged_by, "flagged_at": at or utcnow()}
        for a in dict.fromkeys(accounts)
        if a not in known
    ]
    if rows:
        with engine.begin() as conn:
            conn.execute(insert(flagged_account_table), rows)
    return len(rows)


def listed_accounts(engine: Engine) -> set[str]:
    """The accounts on the list."""
    metadata.create_all(engine, tables=[flagged_account_table])
    with engine.connect() as conn:
        return {r[0] for r in conn.execute(select(flagged_account_table.c.account_id))}


def flagged_accounts(engine: Engine, levels: Iterable[str]) -> set[str]:
    """Users the risk book holds at one of `levels`, and the listed accounts."""
    query = select(risk_states.c.user_id).where(risk_states.c.level.in_(sorted(levels)))
    with engine.connect() as conn:
        return {r[0] for r in conn.execute(query)} | listed_accounts(engine)
