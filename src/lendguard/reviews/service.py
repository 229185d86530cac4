"""Use cases of human review: request, confirm, take, verify, decide, withdraw, each one transaction.

Each use case locks the review row, applies the pure rules of `reviews/rules.py` and
writes the new state and one action row in one transaction. Once it commits, the action
is appended to the evidence log and its receipt stored. The log keeps its own lock and
transaction on the same catalogue, so the append cannot run inside ours; an action whose
append failed stays without a receipt and is appended by the next use case (or by
`log_evidence()`), so no action is left out of the log for long.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import polars as pl
from sqlalchemy import update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError, OperationalError

from lendguard.evidence import DuplicateRecordError, Receipt
from lendguard.policy import Policy
from lendguard.reviews import rules
from lendguard.reviews import store as db
from lendguard.reviews.domain import (
    KINDS,
    METHODS,
    USER_KINDS,
    Action,
    DecisionSnapshot,
    LineChange,
    Review,
    ReviewError,
)
from lendguard.reviews.evidence_source import EVIDENCE_KIND
from lendguard.reviews.report import build_report
from lendguard.store.catalog import utcnow

OVERRIDE_COLUMNS = {"user_id": pl.String, "check_code": pl.String, "review_id": pl.String, "reviewer": pl.String, "reason_code": pl.String}


class EvidenceSink(Protocol):
    """What the service needs of the evidence log (`lendguard.evidence.EvidenceLog`)."""

    def append(self, kind: str, record_id: str, record: Mapping[str, Any]) -> Receipt: ...

    def locate(self, record_id: str, kind: str | None = None) -> tuple[str, int, bytes]: ...


def _now(now: dt.datetime | None) -> dt.datetime:
    moment = utcnow() if now is None else now
    if moment.tzinfo is None:
        raise ValueError("`now` must be timezone-aware")
    return moment.astimezone(dt.timezone.utc)


def active_check_overrides(engine: Engine, user_ids: Sequence[str] | None = None) -> pl.DataFrame:
    """Checks a decided review cleared, per user: the visibility engine treats them as passed."""
    db.create_tables(engine)
    with engine.connect() as conn:
        rows = db.override_rows(conn, user_ids)
    return pl.DataFrame(rows, schema=OVERRIDE_COLUMNS, orient="row")


class ReviewService:
    """Human reviews of automated decisions, bounded by `policy.reviews`, logged as evidence."""

    def __init__(self, engine: Engine, policy: Policy, evidence: EvidenceSink):
        self.engine = engine
        self.policy = policy
        self.evidence = evidence
        db.create_tables(engine)

    @classmethod
    def open(cls, data_dir: str | Path, policy: Policy) -> ReviewService:
        """The service over a data directory's catalogue and evidence log."""
        from lendguard.evidence import EvidenceLog
        from lendguard.store.catalog import catalog_engine

        data_dir = Path(data_dir)
        return cls(catalog_engine(data_dir), policy, EvidenceLog.open(data_dir))

    # ---- reads -------------------------------------------------------------------------
    def get(self, review_id: str) -> Review:
        with self.engine.connect() as conn:
            return self._found(db.get_review(conn, review_id), review_id)

    def owner(self, review_id: str) -> str | None:
        """The user a review is about (None for an unknown review)."""
        with self.engine.connect() as conn:
            review = db.get_review(conn, review_id)
        return None if review is None else review.user_id

    def actions(self, review_id: str) -> list[Action]:
        with self.engine.connect() as conn:
            self._found(db.get_review(conn, review_id), review_id)
            return db.actions_of(conn, review_id)

    def find(self, status: str | None = None, user_id: str | None = None, kind: str | None = None, reviewer: str | None = None) -> list[Review]:
        with self.engine.connect() as conn:
            return db.find_reviews(conn, status=status, user_id=user_id, kind=kind, reviewer=reviewer)

    def report(self, now: dt.datetime | None = None, min_decided: int | None = None) -> dict[str, Any]:
        """The overrides report (per reviewer against the team) and the overdue reviews."""
        return build_report(self.find(), _now(now), self.policy, min_decided)

    def risk_level(self, user_id: str) -> str:
        with self.engine.connect() as conn:
            return db.current_risk_level(conn, user_id)

    # ---- opening a review --------------------------------------------------------------------
    def request(
        self,
        user_id: str,
        decision: Mapping[str, Any],
        kind: str = "user_request",
        reason: str | None = None,
        now: dt.datetime | None = None,
    ) -> Review:
        """The user asks for a human review of (or refuses) the automated decision `decision`."""
        if kind not in USER_KINDS:
            raise ReviewError("invalid_kind", f"a user may request {' or '.join(sorted(USER_KINDS))}, not {kind!r}", "invalid")
        return self._open(user_id, decision, kind, user_id, reason, _now(now))

    def open_r2(self, user_id: str, decision: Mapping[str, Any], opened_by: str = "system", now: dt.datetime | None = None) -> Review:
        """Open the second verification and human review that risk level R2 requires."""
        moment = _now(now)
        level = self.risk_level(user_id)
        if level != "R2":
            raise ReviewError("not_at_r2", f"user {user_id} is at {level}, not R2", "conflict", risk_level=level)
        return self._open(user_id, decision, "r2_verification", opened_by, None, moment)

    def _open(self, user_id: str, decision: Mapping[str, Any], kind: str, requested_by: str, reason: str | None, now: dt.datetime) -> Review:
        assert kind in KINDS
        snapshot = DecisionSnapshot.of(decision)
        if snapshot.user_id != user_id:
            raise ReviewError("decision_mismatch", f"the decision is about {snapshot.user_id}, not {user_id}", "invalid")
        touches = rules.touches_social_graph(snapshot, self.policy)
        review = Review(
            review_id=f"rv-{uuid.uuid4().hex[:16]}",
            user_id=user_id,
            kind=kind,
            status=rules.initial_status(touches),
            requested_by=requested_by,
            requested_at=now,
            reason=reason,
            decision=snapshot,
            touches_social_graph=touches,
        )
        slot = "user" if kind in USER_KINDS else "r2"
        details = {"kind": kind, "reason": reason, "status": review.status, "touches_social_graph": touches, "decision": snapshot.to_json()}
        for attempt in range(5):
            try:
                with self.engine.begin() as conn:
                    already = db.open_review(conn, user_id, slot)
                    if already is not None:
                        raise ReviewError(
                            "review_already_open",
                            f"user {user_id} already has an open review ({already}); withdraw it or wait for its decision",
                            "conflict",
                            review_id=already,
                        )
                    year = seq = None
                    if kind in USER_KINDS:
                        year = rules.local_year(now, self.policy)
                        seq = rules.check_yearly_limit(db.used_quota(conn, user_id, year), now, self.policy)
                    db.insert_review(conn, review, year, seq, slot)
                    self._act(conn, review.review_id, "requested", requested_by, now, details)
                break
            except (IntegrityError, OperationalError):
                # Another request of the same user committed first (a seat or the open slot is
                # taken): the next attempt reads it and refuses with the right reason.
                if attempt == 4:
                    raise
        self.log_evidence()
        return self.get(review.review_id)

    # ---- moving a review -----------------------------------------------------------------------
    def confirm(self, review_id: str, actor: str | None = None, now: dt.datetime | None = None) -> Review:
        """The user's second confirmation; a review touching the social graph then cools off."""
        moment = _now(now)
        with self.engine.begin() as conn:
            review = self._locked(conn, review_id)
            who = review.user_id if actor is None else actor
            rules.check_confirm(review, who)
            opens_at = rules.cooling_off_end(moment, self.policy)
            self._move(conn, review, status="requested", confirmed_at=moment, opens_at=opens_at)
            self._act(conn, review_id, "confirmed", who, moment, {"opens_at": opens_at.isoformat()})
        self.log_evidence()
        return self.get(review_id)

    def take(self, review_id: str, reviewer: str, now: dt.datetime | None = None) -> Review:
        """A reviewer takes a queued review; from then on only they may decide it."""
        moment = _now(now)
        with self.engine.begin() as conn:
            review = self._locked(conn, review_id)
            rules.check_take(review, reviewer, moment)
            self._move(conn, review, status="in_review", reviewer=reviewer, taken_at=moment)
            self._act(conn, review_id, "taken", reviewer, moment, {})
        self.log_evidence()
        return self.get(review_id)

    def verify(self, review_id: str, reviewer: str, method: str, passed: bool, now: dt.datetime | None = None) -> Review:
        """Record a second verification (face, SMS, document) done by the assigned reviewer."""
        moment = _now(now)
        if method not in METHODS:
            raise ReviewError("unknown_method", f"verification method must be one of {', '.join(METHODS)}", "invalid")
        with self.engine.begin() as conn:
            review = self._locked(conn, review_id)
            rules.check_assigned(review, reviewer, "verified")
            self._act(conn, review_id, "verified", reviewer, moment, {"method": method, "passed": bool(passed)})
        self.log_evidence()
        return self.get(review_id)

    def decide(
        self,
        review_id: str,
        reviewer: str,
        outcome: str,
        clear_checks: Iterable[str] = (),
        risk_level: str | None = None,
        line_change: LineChange | None = None,
        reason_code: str | None = None,
        note: str | None = None,
        now: dt.datetime | None = None,
    ) -> Review:
        """Uphold or override: overrides stay within the policy's bounds and name a reason code.

        Cleared checks become active overrides; a lowered risk level is written to
        `risk_states` (rule `human_review:<review_id>`) in the same transaction.
        """
        moment = _now(now)
        with self.engine.begin() as conn:
            review = self._locked(conn, review_id)
            rules.check_assigned(review, reviewer, "decided")
            current = db.current_risk_level(conn, review.user_id, lock=True)
            changes = rules.plan_decision(
                review,
                outcome,
                self.policy,
                clear_checks=list(clear_checks),
                current_risk=current,
                risk_level=risk_level,
                verified=db.verification_passed(conn, review_id),
                line_change=line_change,
                reason_code=reason_code,
            )
            self._move(
                conn, review, status="decided", decided_at=moment, outcome=outcome, reason_code=reason_code,
                changes=changes.to_json(), note=note, open_slot=None,
            )
            if changes.cleared_checks:
                db.put_overrides(conn, review.user_id, changes.cleared_checks, review_id, reviewer, reason_code or "", moment)
            if changes.risk is not None:
                db.set_risk_level(
                    conn,
                    review.user_id,
                    changes.risk.to_level,
                    moment,
                    rules.risk_recovers_at(changes.risk.to_level, moment, self.policy),
                    f"human_review:{review_id}",
                    {"review_id": review_id, "reviewer": reviewer, "reason_code": reason_code, "from": changes.risk.from_level},
                )
            if not changes.empty:
                db.forget_cached_decision(conn, review.user_id)
            details = {"outcome": outcome, "reason_code": reason_code, "note": note, **changes.to_json()}
            self._act(conn, review_id, "decided", reviewer, moment, details)
        self.log_evidence()
        return self.get(review_id)

    def withdraw(self, review_id: str, actor: str | None = None, reason: str | None = None, now: dt.datetime | None = None) -> Review:
        """The user withdraws an open review (it still counts towards the yearly limit)."""
        moment = _now(now)
        with self.engine.begin() as conn:
            review = self._locked(conn, review_id)
            who = review.user_id if actor is None else actor
            rules.check_withdraw(review, who)
            self._move(conn, review, status="withdrawn", withdrawn_at=moment, open_slot=None)
            self._act(conn, review_id, "withdrawn", who, moment, {"reason": reason})
        self.log_evidence()
        return self.get(review_id)

    # ---- helpers -------------------------------------------------------------------------------
    @staticmethod
    def _found(review: Review | None, review_id: str) -> Review:
        if review is None:
            raise ReviewError("unknown_review", f"no review {review_id!r}", "not_found", review_id=review_id)
        return review

    def _locked(self, conn: Connection, review_id: str) -> Review:
        """Read a review after taking its write lock (a no-op update: SQLite's database lock,
        PostgreSQL's row lock), so two actions on one review run one after the other."""
        conn.execute(update(db.reviews).where(db.reviews.c.review_id == review_id).values(status=db.reviews.c.status))
        return self._found(db.get_review(conn, review_id), review_id)

    @staticmethod
    def _move(conn: Connection, review: Review, **values: Any) -> None:
        if not db.transition(conn, review, **values):
            raise ReviewError("concurrent_change", f"review {review.review_id} changed meanwhile; read it again", "conflict")

    @staticmethod
    def _act(conn: Connection, review_id: str, action: str, actor: str, at: dt.datetime, details: dict[str, Any]) -> Action:
        return db.append_action(conn, review_id, action, actor, at, details)

    # ---- evidence ------------------------------------------------------------------------------
    def log_evidence(self) -> int:
        """Append every action not yet in the evidence log (normally just the one committed last)."""
        logged = 0
        while True:
            with self.engine.connect() as conn:
                pending = db.unlogged_actions(conn)
            if not pending:
                return logged
            for action in pending:
                try:
                    receipt = self.evidence.append(EVIDENCE_KIND, action.action_id, action.to_record())
                    index, leaf = receipt.index, receipt.leaf_hash
                except DuplicateRecordError:
                    # Appended before, but its receipt was not stored (a crash, or another process).
                    _, index, raw = self.evidence.locate(action.action_id, EVIDENCE_KIND)
                    leaf = raw.hex()
                try:
                    with self.engine.begin() as conn:
                        db.put_receipt(conn, action.action_id, index, leaf, utcnow())
                except IntegrityError:
                    pass  # another process stored the same receipt
                logged += 1

    def receipt(self, action_id: str) -> tuple[int, str] | None:
        """(leaf index, leaf hash) of an action in the evidence log, None while pending."""
        with self.engine.connect() as conn:
            return db.receipt_of(conn, action_id)
