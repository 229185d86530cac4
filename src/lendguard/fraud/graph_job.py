"""The periodic graph job: reads transfers and logins through the data gate, finds rings, keeps them.

The I/O edge of `fraud.graph`: only rows whose owners granted the social-graph and
device categories for anti-fraud reach the graph, every read is in the access log,
and the rings found are stored in `fraud_rings` (one row per ring and run) for
`lendguard fraud rings` and the report. The member signals are returned for the risk
book; the job writes no risk level itself.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

from sqlalchemy import (
    Column,
    DateTime,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    delete,
    func,
    insert,
    select,
)
from sqlalchemy.engine import Engine

from lendguard.consent.access_log import AccessLog
from lendguard.consent.gate import gate
from lendguard.consent.uses import DataUse, EngineUses
from lendguard.features.window import AsOf
from lendguard.fraud.graph import GraphRules, Ring, find_rings, ring_signals
from lendguard.fraud.signals import Signal
from lendguard.policy import Policy
from lendguard.store.catalog import as_utc
from lendguard.store.events import EventStore

GRAPH_USES = EngineUses(
    "fraud_graph",
    (DataUse("social_graph", "rows", "anti_fraud"), DataUse("device", "rows", "anti_fraud")),
)
FLAGGED_LEVELS = ("R2", "R3")

metadata = MetaData()

fraud_rings = Table(
    "fraud_rings",
    metadata,
    Column("ring_id", String, primary_key=True),
    Column("found_at", DateTime(timezone=True), primary_key=True, index=True),  # the run's as-of time
    Column("kind", String, nullable=False),  # fund_flow | device_sharing | mixed
    Column("size", Integer, nullable=False),
    Column("edges", Integer, nullable=False),
    Column("density", Float, nullable=False),
    Column("amount", Float, nullable=False),
    Column("members", Text, nullable=False),  # JSON lists of account ids
    Column("flagged", Text, nullable=False),
    Column("users", Text, nullable=False),
    Column("links", Text, nullable=False),  # JSON [[a, b], ...]: every link, for drawing
    Column("evidence", Text, nullable=False),  # JSON: the heaviest links, described
)


@dataclass(frozen=True)
class GraphJobResult:
    found_at: dt.datetime
    rings: list[Ring]
    signals: list[Signal]  # for the risk book
    read_id: str  # the access-log read


@dataclass(frozen=True)
class FoundRing:
    found_at: dt.datetime
    ring: Ring


def run_graph_job(
    store: EventStore,
    policy: Policy,
    as_of: AsOf,
    flagged: set[str],
    rules: GraphRules,
    actor: str = "fraud-graph-job",
    consent_at: dt.datetime | None = None,
) -> GraphJobResult:
    """Find the rings in the `rules.lookback_days` before `as_of`, store them, return their signals.

    Grants are those in force at `consent_at` (now by default: a withdrawal applies at once).
    """
    window = as_of.within(rules.lookback_days)
    frames = {
        "transfer": store.scan("transfer").filter(window),
        "login": store.scan("login").filter(window),
        "consent": store.scan("consent"),
    }
    consent_at = consent_at or dt.datetime.now(dt.timezone.utc)
    gated = gate(frames, GRAPH_USES, policy, as_of, consent_at, store.scan_users())
    read_id = AccessLog(store.engine, store.data_dir).record(gated, GRAPH_USES, actor)
    transfers = gated.frames["transfer"].select("user_id", "direction", "amount", "counterparty").collect()
    logins = gated.frames["login"].select("user_id", "device_id").collect()
    rings = find_rings(transfers, logins, flagged, rules, gated.users)
    save_rings(store.engine, as_of.at, rings)
    return GraphJobResult(as_of.at, rings, ring_signals(rings, as_of.at, rules), read_id)


def flagged_accounts(store: EventStore) -> set[str]:
    """Users the fraud engine holds at R2 or R3, and accounts flagged from outside
    (`lendguard fraud flag`): the seeds rings are searched around."""
    from lendguard.fraud.flagged import flagged_accounts as flagged_in

    return flagged_in(store.engine, FLAGGED_LEVELS)


def save_rings(engine: Engine, found_at: dt.datetime, rings: list[Ring]) -> None:
    """Store one run's rings; a rerun at the same as-of time replaces that run."""
    metadata.create_all(engine, tables=[fraud_rings])
    rows = [
        {
            "ring_id": r.ring_id,
            "found_at": found_at,
            "kind": r.kind,
            "size": r.size,
            "edges": r.edges,
            "density": r.density,
            "amount": r.amount,
            "members": json.dumps(r.members),
            "flagged": json.dumps(r.flagged),
            "users": json.dumps(r.users),
            "links": json.dumps(r.links),
            "evidence": json.dumps(r.evidence, ensure_ascii=False),
        }
        for r in rings
    ]
    with engine.begin() as conn:
        conn.execute(delete(fraud_rings).where(fraud_rings.c.found_at == found_at))
        if rows:
            conn.execute(insert(fraud_rings), rows)


def list_rings(engine: Engine, limit: int = 20) -> list[FoundRing]:
    """Each ring once, as last found, largest first (then by money moved)."""
    metadata.create_all(engine, tables=[fraud_rings])
    latest = (
        select(fraud_rings.c.ring_id, func.max(fraud_rings.c.found_at).label("found_at"))
        .group_by(fraud_rings.c.ring_id)
        .subquery()
    )
    query = (
        select(fraud_rings)
        .join(latest, (fraud_rings.c.ring_id == latest.c.ring_id) & (fraud_rings.c.found_at == latest.c.found_at))
        .order_by(fraud_rings.c.size.desc(), fraud_rings.c.amount.desc(), fraud_rings.c.ring_id)
        .limit(limit)
    )
    with engine.connect() as conn:
        return [_found(row._mapping) for row in conn.execute(query)]


def _found(row) -> FoundRing:
    ring = Ring(
        ring_id=row["ring_id"],
        kind=row["kind"],
        members=tuple(json.loads(row["members"])),
        flagged=tuple(json.loads(row["flagged"])),
        users=tuple(json.loads(row["users"])),
        edges=row["edges"],
        density=row["density"],
        amount=row["amount"],
        evidence=tuple(json.loads(row["evidence"])),
        links=tuple((a, b) for a, b in json.loads(row["links"])),
    )
    return FoundRing(as_utc(row["found_at"]), ring)
