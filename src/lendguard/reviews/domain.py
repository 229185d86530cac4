"""What a human review is: kinds, states, the decision it reviews, its actions and its refusals.

Pure and typed: no clock, no storage. The rules that move a review between states
live in `reviews/rules.py`; the use cases that store them in `reviews/service.py`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

ReviewKind = Literal["user_request", "automated_refusal", "r2_verification"]
ReviewStatus = Literal["requested", "awaiting_confirmation", "in_review", "decided", "withdrawn"]
Outcome = Literal["upheld", "overridden"]
ActionName = Literal["requested", "confirmed", "taken", "verified", "decided", "withdrawn"]
VerificationMethod = Literal["face", "sms", "document"]
RiskLevel = Literal["R0", "R1", "R2", "R3"]

KINDS: tuple[str, ...] = ("user_request", "automated_refusal", "r2_verification")
# Reviews the user asks for (PIPL art. 24 / GDPR art. 22): limited per calendar year.
USER_KINDS: frozenset[str] = frozenset({"user_request", "automated_refusal"})
STATUSES: tuple[str, ...] = ("requested", "awaiting_confirmation", "in_review", "decided", "withdrawn")
OPEN_STATUSES: frozenset[str] = frozenset({"requested", "awaiting_confirmation", "in_review"})
OUTCOMES: tuple[str, ...] = ("upheld", "overridden")
METHODS: tuple[str, ...] = ("face", "sms", "document")
RISK_LEVELS: tuple[str, ...] = ("R0", "R1", "R2", "R3")
# Statuses of a check in the decision under review that a reviewer may clear.
CLEARABLE_STATUSES: frozenset[str] = frozenset({"fail", "not_assessable"})
# Statuses of a social-graph check that mean its data were read and weighed against the user.
SOCIAL_TOUCH_STATUSES: frozenset[str] = frozenset({"fail", "warn"})

# How a refusal maps onto the API: the status code family of each kind of error.
ErrorKind = Literal["not_found", "conflict", "limit", "forbidden", "invalid"]


class ReviewError(Exception):
    """A refused review operation: a stable `code`, a sentence, and the facts behind it."""

    def __init__(self, code: str, message: str, kind: ErrorKind = "invalid", **details: Any):
        super().__init__(message)
        self.code = code
        self.message = message
        self.kind: ErrorKind = kind
        self.details: dict[str, Any] = details

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


@dataclass(frozen=True)
class DecisionSnapshot:
    """The system's decision under review, as the user saw it when asking."""

    user_id: str
    visible: bool
    as_of: str
    policy_version: str
    policy_sha256: str
    reason_codes: tuple[str, ...]
    failed_dimensions: tuple[str, ...]
    # Checks that did not pass: code -> {"status", "dimension", "measured"}.
    checks: Mapping[str, Mapping[str, Any]]

    @classmethod
    def of(cls, decision: Mapping[str, Any]) -> DecisionSnapshot:
        """From a decision document (`VisibilityService.decision`): keep what a reviewer needs."""
        checks: dict[str, dict[str, Any]] = {}
        for dimension in decision.get("dimensions") or []:
            for check in dimension.get("checks") or []:
                if check["status"] != "pass":
                    checks[check["code"]] = {
                        "status": check["status"],
                        "dimension": dimension["dimension"],
                        "measured": dict(check.get("measured") or {}),
                    }
        as_of = decision["as_of"]
        return cls(
            user_id=decision["user_id"],
            visible=bool(decision["visible"]),
            as_of=as_of.isoformat() if isinstance(as_of, dt.datetime) else str(as_of),
            policy_version=decision["policy_version"],
            policy_sha256=decision["policy_sha256"],
            reason_codes=tuple(decision.get("reason_codes") or ()),
            failed_dimensions=tuple(decision.get("failed_dimensions") or ()),
            checks=checks,
        )

    def status_of(self, code: str) -> str:
        """The check's status in the decision ('pass' when it is not listed)."""
        found = self.checks.get(code)
        return "pass" if found is None else str(found["status"])

    def to_json(self) -> dict[str, Any]:
        return {
            "user_id": self.user_id,
            "visible": self.visible,
            "as_of": self.as_of,
            "policy_version": self.policy_version,
            "policy_sha256": self.policy_sha256,
            "reason_codes": list(self.reason_codes),
            "failed_dimensions": list(self.failed_dimensions),
            "checks": {code: dict(value) for code, value in self.checks.items()},
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DecisionSnapshot:
        return cls(
            user_id=data["user_id"],
            visible=bool(data["visible"]),
            as_of=data["as_of"],
            policy_version=data["policy_version"],
            policy_sha256=data["policy_sha256"],
            reason_codes=tuple(data["reason_codes"]),
            failed_dimensions=tuple(data["failed_dimensions"]),
            checks={code: dict(value) for code, value in data["checks"].items()},
        )


@dataclass(frozen=True)
class LineChange:
    """A reviewer's credit-line adjustment: the system's line and the line decided."""

    system_line: Decimal
    new_line: Decimal

    def to_json(self) -> dict[str, str]:
        return {"system_line": str(self.system_line), "new_line": str(self.new_line)}


@dataclass(frozen=True)
class RiskChange:
    from_level: str
    to_level: str

    def to_json(self) -> dict[str, str]:
        return {"from": self.from_level, "to": self.to_level}


@dataclass(frozen=True)
class Changes:
    """What an `overridden` outcome changes; an `upheld` outcome changes nothing."""

    cleared_checks: tuple[str, ...] = ()
    risk: RiskChange | None = None
    line: LineChange | None = None

    @property
    def empty(self) -> bool:
        return not self.cleared_checks and self.risk is None and self.line is None

    def to_json(self) -> dict[str, Any]:
        return {
            "cleared_checks": list(self.cleared_checks),
            "risk_level": None if self.risk is None else self.risk.to_json(),
            "line": None if self.line is None else self.line.to_json(),
        }


@dataclass(frozen=True)
class Review:
    """One review as stored: who asked, about which decision, where it stands, what was decided."""

    review_id: str
    user_id: str
    kind: str
    status: str
    requested_by: str
    requested_at: dt.datetime
    reason: str | None
    decision: DecisionSnapshot
    touches_social_graph: bool
    confirmed_at: dt.datetime | None = None
    opens_at: dt.datetime | None = None  # reviewers may take it from then (after cooling-off)
    reviewer: str | None = None
    taken_at: dt.datetime | None = None
    decided_at: dt.datetime | None = None
    outcome: str | None = None
    reason_code: str | None = None
    changes: dict[str, Any] = field(default_factory=dict)
    note: str | None = None
    withdrawn_at: dt.datetime | None = None

    @property
    def user_initiated(self) -> bool:
        return self.kind in USER_KINDS

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES


@dataclass(frozen=True)
class Action:
    """One entry of a review's append-only action log."""

    action_id: str
    review_id: str
    seq: int
    action: str
    actor: str
    at: dt.datetime
    details: dict[str, Any]

    def to_record(self) -> dict[str, Any]:
        """The JSON form appended to the evidence log (recomputable from the stored row)."""
        return {
            "action_id": self.action_id,
            "review_id": self.review_id,
            "seq": self.seq,
            "action": self.action,
            "actor": self.actor,
            "at": self.at.isoformat(),
            "details": self.details,
        }
