"""The risk book: turns signals into level transitions and keeps them.

A signal raises a user's level only above the level in force at its event time (an
R1 past its recovery time counts as R0, and the recovery is itself a transition).
Every transition is stored with its rule, evidence events and time, under an id
derived from the signal, so a signal replayed after a crash changes nothing. The
current level goes to `risk_states` (which the visibility engine's AF01 reads), the
users' cached decisions are dropped, and an R2 opens the second-verification review.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Column, DateTime, MetaData, String, Table, Text, insert, select
from sqlalchemy.engine import Connection, Engine

from lendguard.evidence.shared import SharedLog
from lendguard.fraud.signals import Signal, level_rank
from lendguard.policy import Policy
from lendguard.reviews.rules import risk_recovers_at
from lendguard.reviews.store import set_risk_level
from lendguard.store.catalog import as_utc, risk_states, utcnow
from lendguard.store.decisions import DecisionCache

metadata = MetaData()

risk_transitions = Table(
    "risk_transitions",
    metadata,
    Column("transition_id", String, primary_key=True),
    Column("user_id", String, nullable=False, index=True),
    Column("from_level", String, nullable=False),
    Column("to_level", String, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False, index=True),  # event time
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    Column("rule_id", String, nullable=False, index=True),
    Column("rule_key", String, nullable=False),
    Column("evidence", Text, nullable=False),  # JSON list of event ids (or ring members)
    Column("details", Text, nullable=False),  # JSON of the measured values
)


@dataclass(frozen=True)
class Transition:
    transition_id: str
    user_id: str
    from_level: str
    to_level: str
    at: dt.datetime
    rule_id: str
    rule_key: str
    evidence: tuple[str, ...]
    details: dict

    def row(self, recorded_at: dt.datetime | None) -> dict:
        return {
            "transition_id": self.transition_id,
            "user_id": self.user_id,
            "from_level": self.from_level,
            "to_level": self.to_level,
            "at": self.at,
            "recorded_at": recorded_at,
            "rule_id": self.rule_id,
            "rule_key": self.rule_key,
            "evidence": json.dumps(list(self.evidence)),
            "details": json.dumps(self.details, default=str, sort_keys=True),
        }


def _transition_id(*parts: str) -> str:
    return "tr-" + hashlib.sha256("|".join(parts).encode()).hexdigest()[:24]


RECOVERY_RULE = "r1_recovery"
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


@dataclass
class Held:
    """The level a user holds as the stream has it (kept in the engine's checkpoint)."""

    level: str
    since: dt.datetime
    recovers_at: dt.datetime | None = None
    rule_id: str = ""


REVIEW_PREFIX = "human_review:"


class RiskBook:
    """Applies signals to the risk levels (one transaction per batch).

    Levels are decided from `levels`, the engine's own record (checkpointed with it),
    not from the database, so a replay after a crash decides exactly as the first run
    did; the database is written only for transitions not stored yet. A reviewer's
    decision (`risk_states` rows of rule `human_review:*`) is an outside change the
    book adopts when it is newer than what it holds.
    """

    def __init__(self, engine: Engine, policy: Policy, levels: dict[str, Held] | None = None, evidence: SharedLog | None = None):
        self.engine = engine
        self.policy = policy
        self.evidence = evidence  # each new transition becomes an evidence leaf
        metadata.create_all(engine, tables=[risk_transitions])
        self.cache = DecisionCache(engine, policy.timezone)
        self.levels = self.stored_levels() if levels is None else levels

    def stored_levels(self) -> dict[str, Held]:
        """Every level in `risk_states` (how a fresh engine starts)."""
        query = select(risk_states.c.user_id, risk_states.c.level, risk_states.c.since, risk_states.c.recovers_at, risk_states.c.rule_id)
        with self.engine.connect() as conn:
            return {r.user_id: Held(r.level, as_utc(r.since), as_utc(r.recovers_at), r.rule_id or "") for r in conn.execute(query)}

    def apply(self, signals: Iterable[Signal]) -> list[Transition]:
        """Store the transitions the signals cause and log them as evidence; returns the new
        ones, in event-time order."""
        made = self.decide(signals)
        self.log(made)
        return made

    def decide(self, signals: Iterable[Signal]) -> list[Transition]:
        """Store the transitions the signals cause, without logging them yet: once this
        returns, the new levels are what the visibility engine reads (`log` follows; a
        crash in between leaves transitions `lendguard evidence sync` logs)."""
        signals = sorted(signals, key=lambda s: (s.at, s.user_id, s.rule_id))
        if not signals:
            return []
        made: list[Transition] = []
        recorded = utcnow()
        with self.engine.begin() as conn:
            for signal in signals:
                made += self._apply_one(conn, signal, recorded)
        if made:
            self.cache.invalidate(t.user_id for t in made)
        return made

    def recover_due(self, at: dt.datetime) -> list[Transition]:
        """R1 levels whose recovery time has passed by `at` go back to R0 (a transition each)."""
        due = sorted(u for u, held in self.levels.items() if held.level == "R1" and held.recovers_at is not None and held.recovers_at <= at)
        made: list[Transition] = []
        recorded = utcnow()
        with self.engine.begin() as conn:
            for user_id in due:
                made += self._recover(conn, user_id, recorded)
        if made:
            self.cache.invalidate(t.user_id for t in made)
        self.log(made)
        return made

    # ---- inside one transaction ---------------------------------------------------------------
    def _held(self, conn: Connection, user_id: str) -> Held:
        held = self.levels.get(user_id)
        row = conn.execute(
            select(risk_states.c.level, risk_states.c.since, risk_states.c.recovers_at, risk_states.c.rule_id).where(
                (risk_states.c.user_id == user_id) & risk_states.c.rule_id.startswith(REVIEW_PREFIX)
            )
        ).first()
        if row is not None and (held is None or as_utc(row.since) > held.since) and (held is None or held.rule_id != row.rule_id):
            held = self.levels[user_id] = Held(row.level, as_utc(row.since), as_utc(row.recovers_at), row.rule_id)
        return held or Held("R0", EPOCH)

    def _apply_one(self, conn: Connection, signal: Signal, recorded: dt.datetime) -> list[Transition]:
        made = []
        held = self._held(conn, signal.user_id)
        if held.level == "R1" and held.recovers_at is not None and held.recovers_at <= signal.at:
            made += self._recover(conn, signal.user_id, recorded)
            held = self.levels[signal.user_id]
        if level_rank(signal.level) <= level_rank(held.level):
            return made  # already at this level or above: the hit adds nothing
        transition = Transition(
            _transition_id(signal.signal_id, held.level, signal.level),
            signal.user_id, held.level, signal.level, signal.at, signal.rule_id, signal.key, signal.evidence, signal.details,
        )
        recovers = risk_recovers_at(signal.level, signal.at, self.policy)
        self.levels[signal.user_id] = Held(signal.level, signal.at, recovers, signal.rule_id)
        if self._store(conn, transition, recorded):
            evidence = {"rule_id": signal.rule_id, "key": signal.key, "events": list(signal.evidence), **signal.details}
            set_risk_level(conn, signal.user_id, signal.level, signal.at, recovers, signal.rule_id, evidence)
            made.append(transition)
        return made

    def _recover(self, conn: Connection, user_id: str, recorded: dt.datetime) -> list[Transition]:
        held = self.levels[user_id]
        at = held.recovers_at
        transition = Transition(
            _transition_id(RECOVERY_RULE, user_id, at.isoformat()),
            user_id, "R1", "R0", at, RECOVERY_RULE, held.rule_id, (), {"recovered_from": held.rule_id},
        )
        self.levels[user_id] = Held("R0", at, None, RECOVERY_RULE)
        if not self._store(conn, transition, recorded):
            return []
        set_risk_level(conn, user_id, "R0", at, None, RECOVERY_RULE, {"recovered_from": held.rule_id})
        return [transition]

    @staticmethod
    def _store(conn: Connection, transition: Transition, recorded: dt.datetime) -> bool:
        """Insert once: False when a replay already stored this transition."""
        exists = conn.execute(
            select(risk_transitions.c.transition_id).where(risk_transitions.c.transition_id == transition.transition_id)
        ).first()
        if exists:
            return False
        conn.execute(insert(risk_transitions).values(**transition.row(recorded)))
        return True

    def log(self, made: list[Transition]) -> None:
        """Each new transition becomes an evidence leaf."""
        if made and self.evidence is not None:
            from lendguard.fraud.evidence import log_transitions

            log_transitions(self.evidence.get(), made)


def transitions(engine: Engine, user_id: str | None = None, limit: int | None = None) -> list[dict]:
    """Stored transitions, newest first (one user's, or everyone's)."""
    metadata.create_all(engine, tables=[risk_transitions])
    query = select(risk_transitions).order_by(risk_transitions.c.at.desc(), risk_transitions.c.transition_id)
    if user_id is not None:
        query = query.where(risk_transitions.c.user_id == user_id)
    if limit is not None:
        query = query.limit(limit)
    with engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(query)]
    for row in rows:
        row["at"] = as_utc(row["at"])
        row["recorded_at"] = as_utc(row["recorded_at"])
        row["evidence"] = json.loads(row["evidence"])
        row["details"] = json.loads(row["details"])
    return rows
