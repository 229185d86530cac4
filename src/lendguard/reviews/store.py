"""Review tables (SQLAlchemy Core, portable SQL) and the reads and writes the review service needs.

Four tables on their own `MetaData`: `reviews` (one row per review, with the
decision under review), `review_actions` (append-only action log),
`review_check_overrides` (checks a decided review cleared) and
`review_action_receipts` (each action's evidence-log receipt). Times are stored as UTC
and read back as aware UTC datetimes on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import datetime as dt
import json
import weakref
from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Connection, Engine

from lendguard.reviews.domain import Action, DecisionSnapshot, Review
from lendguard.store.catalog import metadata as catalog_metadata
from lendguard.store.catalog import risk_states
from lendguard.store.decisions import (
    decision_cache,
    forget_decisions,
    rendered_decisions,
)

metadata = MetaData()

reviews = Table(
    "reviews",
    metadata,
    Column("review_id", String(64), primary_key=True),
    Column("user_id", String(128), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("status", String(32), nullable=False),
    Column("requested_by", String(128), nullable=False),
    Column("requested_at", DateTime(timezone=True), nullable=False),
    Column("reason", Text, nullable=True),
    # The decision under review (DecisionSnapshot as JSON) and its key facts as columns.
    Column("decision", Text, nullable=False),
    Column("policy_version", String(64), nullable=False),
    Column("policy_sha256", String(64), nullable=False),
    Column("decision_as_of", String(64), nullable=False),
    Column("touches_social_graph", Boolean, nullable=False),
    Column("confirmed_at", DateTime(timezone=True), nullable=True),
    Column("opens_at", DateTime(timezone=True), nullable=True),
    Column("reviewer", String(128), nullable=True),
    Column("taken_at", DateTime(timezone=True), nullable=True),
    Column("decided_at", DateTime(timezone=True), nullable=True),
    Column("outcome", String(16), nullable=True),
    Column("reason_code", String(32), nullable=True),
    Column("changes", Text, nullable=True),
    Column("note", Text, nullable=True),
    Column("withdrawn_at", DateTime(timezone=True), nullable=True),
    # The yearly limit: user-initiated reviews take seats 1..N of their local year; a second
    # writer racing for the same seat fails on this constraint instead of exceeding the limit.
    Column("quota_year", Integer, nullable=True),
    Column("quota_seq", Integer, nullable=True),
    # 'user' or 'r2' while the review is open, NULL once closed: one open review of each per user.
    Column("open_slot", String(8), nullable=True),
    UniqueConstraint("user_id", "quota_year", "quota_seq", name="uq_reviews_quota"),
    UniqueConstraint("user_id", "open_slot", name="uq_reviews_open"),
    Index("ix_reviews_user", "user_id"),
    Index("ix_reviews_status", "status"),
)

review_actions = Table(
    "review_actions",
    metadata,
    Column("action_id", String(96), primary_key=True),
    Column("review_id", String(64), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("action", String(32), nullable=False),
    Column("actor", String(128), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("details", Text, nullable=False),
    UniqueConstraint("review_id", "seq", name="uq_review_actions_seq"),
)

check_overrides = Table(
    "review_check_overrides",
    metadata,
    Column("user_id", String(128), primary_key=True),
    Column("check_code", String(16), primary_key=True),
    Column("review_id", String(64), nullable=False),
    Column("reviewer", String(128), nullable=False),
    Column("reason_code", String(32), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

# Which actions are in the evidence log: the receipt of each append. An action without one is
# pending (the append runs after the action's transaction commits) and is appended next time.
receipts = Table(
    "review_action_receipts",
    metadata,
    Column("action_id", String(96), primary_key=True),
    Column("leaf_index", Integer, nullable=False),
    Column("leaf_hash", String(64), nullable=False),
    Column("logged_at", DateTime(timezone=True), nullable=False),
)

TABLES = (reviews, review_actions, check_overrides, receipts)


_ready: weakref.WeakSet[Engine] = weakref.WeakSet()


def create_tables(engine: Engine) -> None:
    """Create the review tables (and the catalogue tables a decision writes to) if missing; once per engine."""
    if engine in _ready:
        return
    metadata.create_all(engine, tables=list(TABLES))
    catalog_metadata.create_all(engine, tables=[risk_states, decision_cache, rendered_decisions])
    _ready.add(engine)


def utc(value: dt.datetime | None) -> dt.datetime | None:
    """Stored times back as aware UTC (SQLite returns them naive, PostgreSQL in the session zone)."""
    if value is None:
        return None
    return value.replace(tzinfo=dt.timezone.utc) if value.tzinfo is None else value.astimezone(dt.timezone.utc)


def dumps(value: Any) -> str:
    """Deterministic JSON, so a record recomputed from a row is byte-for-byte the same."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


# ---- reviews -------------------------------------------------------------------------------
def review_from_row(row: Any) -> Review:
    m = row._mapping
    return Review(
        review_id=m["review_id"],
        user_id=m["user_id"],
        kind=m["kind"],
        status=m["status"],
        requested_by=m["requested_by"],
        requested_at=utc(m["requested_at"]),
        reason=m["reason"],
        decision=DecisionSnapshot.from_json(json.loads(m["decision"])),
        touches_social_graph=bool(m["touches_social_graph"]),
        confirmed_at=utc(m["confirmed_at"]),
        opens_at=utc(m["opens_at"]),
        reviewer=m["reviewer"],
        taken_at=utc(m["taken_at"]),
        decided_at=utc(m["decided_at"]),
        outcome=m["outcome"],
        reason_code=m["reason_code"],
        changes=json.loads(m["changes"]) if m["changes"] else {},
        note=m["note"],
        withdrawn_at=utc(m["withdrawn_at"]),
    )


def insert_review(conn: Connection, review: Review, quota_year: int | None, quota_seq: int | None, open_slot: str) -> None:
    snapshot = review.decision
    conn.execute(
        insert(reviews).values(
            review_id=review.review_id,
            user_id=review.user_id,
            kind=review.kind,
            status=review.status,
            requested_by=review.requested_by,
            requested_at=review.requested_at,
            reason=review.reason,
            decision=dumps(snapshot.to_json()),
            policy_version=snapshot.policy_version,
            policy_sha256=snapshot.policy_sha256,
            decision_as_of=snapshot.as_of,
            touches_social_graph=review.touches_social_graph,
            opens_at=review.opens_at,
            quota_year=quota_year,
            quota_seq=quota_seq,
            open_slot=open_slot,
        )
    )


def get_review(conn: Connection, review_id: str) -> Review | None:
    row = conn.execute(select(reviews).where(reviews.c.review_id == review_id)).first()
    return None if row is None else review_from_row(row)


def transition(conn: Connection, review: Review, **values: Any) -> bool:
    """Update a review only if it is still in the status it was read in (no lost updates)."""
    condition = (reviews.c.review_id == review.review_id) & (reviews.c.status == review.status)
    if review.reviewer is not None:
        condition = condition & (reviews.c.reviewer == review.reviewer)
    if "changes" in values and values["changes"] is not None:
        values["changes"] = dumps(values["changes"])
    return conn.execute(update(reviews).where(condition).values(**values)).rowcount == 1


def used_quota(conn: Connection, user_id: str, year: int) -> int:
    """User-initiated reviews already requested in a local calendar year (withdrawn ones count)."""
    query = select(func.count()).select_from(reviews).where((reviews.c.user_id == user_id) & (reviews.c.quota_year == year))
    return int(conn.execute(query).scalar_one())


def open_review(conn: Connection, user_id: str, slot: str) -> str | None:
    query = select(reviews.c.review_id).where((reviews.c.user_id == user_id) & (reviews.c.open_slot == slot))
    return conn.execute(query).scalar()


def find_reviews(
    conn: Connection,
    status: str | None = None,
    user_id: str | None = None,
    kind: str | None = None,
    reviewer: str | None = None,
) -> list[Review]:
    query = select(reviews).order_by(reviews.c.requested_at, reviews.c.review_id)
    for column, value in ((reviews.c.status, status), (reviews.c.user_id, user_id), (reviews.c.kind, kind), (reviews.c.reviewer, reviewer)):
        if value is not None:
            query = query.where(column == value)
    return [review_from_row(row) for row in conn.execute(query)]


# ---- the action log --------------------------------------------------------------------------
def action_from_row(row: Any) -> Action:
    m = row._mapping
    return Action(m["action_id"], m["review_id"], m["seq"], m["action"], m["actor"], utc(m["at"]), json.loads(m["details"]))


def append_action(conn: Connection, review_id: str, action: str, actor: str, at: dt.datetime, details: dict[str, Any]) -> Action:
    """Append one action (never updated or deleted); its id is `<review_id>.<seq>`."""
    last = conn.execute(select(func.max(review_actions.c.seq)).where(review_actions.c.review_id == review_id)).scalar()
    seq = (last or 0) + 1
    # Stored and returned in the same form (JSON text, whole microseconds, UTC) the audit recomputes.
    at = at.astimezone(dt.timezone.utc)
    text = dumps(details)
    record = Action(f"{review_id}.{seq}", review_id, seq, action, actor, at, json.loads(text))
    conn.execute(
        insert(review_actions).values(
            action_id=record.action_id, review_id=review_id, seq=seq, action=action, actor=actor, at=at, details=text
        )
    )
    return record


def actions_of(conn: Connection, review_id: str) -> list[Action]:
    query = select(review_actions).where(review_actions.c.review_id == review_id).order_by(review_actions.c.seq)
    return [action_from_row(row) for row in conn.execute(query)]


def actions_by_id(conn: Connection, action_ids: Sequence[str]) -> dict[str, Action]:
    found: dict[str, Action] = {}
    ids = list(dict.fromkeys(action_ids))
    for start in range(0, len(ids), 500):
        query = select(review_actions).where(review_actions.c.action_id.in_(ids[start : start + 500]))
        for row in conn.execute(query):
            action = action_from_row(row)
            found[action.action_id] = action
    return found


def unlogged_actions(conn: Connection, limit: int = 1000) -> list[Action]:
    """Actions with no evidence receipt yet, oldest first."""
    query = (
        select(review_actions)
        .select_from(review_actions.outerjoin(receipts, receipts.c.action_id == review_actions.c.action_id))
        .where(receipts.c.action_id.is_(None))
        .order_by(review_actions.c.at, review_actions.c.review_id, review_actions.c.seq)
        .limit(limit)
    )
    return [action_from_row(row) for row in conn.execute(query)]


def put_receipt(conn: Connection, action_id: str, leaf_index: int, leaf_hash: str, at: dt.datetime) -> None:
    conn.execute(insert(receipts).values(action_id=action_id, leaf_index=leaf_index, leaf_hash=leaf_hash, logged_at=at))


def receipt_of(conn: Connection, action_id: str) -> tuple[int, str] | None:
    row = conn.execute(select(receipts.c.leaf_index, receipts.c.leaf_hash).where(receipts.c.action_id == action_id)).first()
    return None if row is None else (int(row[0]), row[1])


def verification_passed(conn: Connection, review_id: str) -> bool:
    """Whether the latest second verification recorded on the review passed."""
    query = (
        select(review_actions.c.details)
        .where((review_actions.c.review_id == review_id) & (review_actions.c.action == "verified"))
        .order_by(review_actions.c.seq.desc())
        .limit(1)
    )
    latest = conn.execute(query).scalar()
    return latest is not None and bool(json.loads(latest).get("passed"))


# ---- risk levels and overrides ---------------------------------------------------------------
def current_risk_level(conn: Connection, user_id: str, lock: bool = False) -> str:
    """The user's anti-fraud level in `risk_states` (R0 when the fraud engine never set one).

    With `lock`, the row stays locked until the transaction ends (PostgreSQL; SQLite's
    writer already holds the database lock), so the level a decision lowers is the one it read.
    """
    query = select(risk_states.c.level).where(risk_states.c.user_id == user_id)
    level = conn.execute(query.with_for_update() if lock else query).scalar()
    return level or "R0"


def set_risk_level(
    conn: Connection, user_id: str, level: str, since: dt.datetime, recovers_at: dt.datetime | None, rule_id: str, evidence: dict
) -> None:
    values = {"level": level, "since": since, "recovers_at": recovers_at, "rule_id": rule_id, "evidence": dumps(evidence)}
    updated = conn.execute(update(risk_states).where(risk_states.c.user_id == user_id).values(**values)).rowcount
    if not updated:
        conn.execute(insert(risk_states).values(user_id=user_id, **values))


def put_overrides(conn: Connection, user_id: str, codes: Sequence[str], review_id: str, reviewer: str, reason_code: str, at: dt.datetime) -> None:
    """Record cleared checks; a later review's override of the same check replaces the earlier one."""
    if not codes:
        return
    conn.execute(delete(check_overrides).where((check_overrides.c.user_id == user_id) & check_overrides.c.check_code.in_(list(codes))))
    conn.execute(
        insert(check_overrides),
        [
            {"user_id": user_id, "check_code": code, "review_id": review_id, "reviewer": reviewer, "reason_code": reason_code, "created_at": at}
            for code in codes
        ],
    )


def override_rows(conn: Connection, user_ids: Sequence[str] | None) -> list[tuple]:
    columns = (check_overrides.c.user_id, check_overrides.c.check_code, check_overrides.c.review_id, check_overrides.c.reviewer, check_overrides.c.reason_code)
    order = (check_overrides.c.user_id, check_overrides.c.check_code)
    if user_ids is None:
        return [tuple(r) for r in conn.execute(select(*columns).order_by(*order))]
    rows: list[tuple] = []
    ids = list(dict.fromkeys(user_ids))
    for start in range(0, len(ids), 500):
        query = select(*columns).where(check_overrides.c.user_id.in_(ids[start : start + 500])).order_by(*order)
        rows.extend(tuple(r) for r in conn.execute(query))
    return rows


def forget_cached_decision(conn: Connection, user_id: str) -> None:
    """Drop the user's cached decision so the next one sees the changed level or overrides."""
    forget_decisions(conn, [user_id])
