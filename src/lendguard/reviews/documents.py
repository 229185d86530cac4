"""The JSON documents of a review and its action log, as the CLI prints and the API returns them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from lendguard.policy import Policy
from lendguard.reviews.domain import Action, Review
from lendguard.reviews.rules import due_at, is_overdue


def _iso(value: dt.datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def action_document(action: Action) -> dict[str, Any]:
    return action.to_record()


def review_document(review: Review, policy: Policy, now: dt.datetime, actions: Sequence[Action] | None = None) -> dict[str, Any]:
    """A review with its deadline and the decision under review (and its actions when given)."""
    document: dict[str, Any] = {
        "review_id": review.review_id,
        "user_id": review.user_id,
        "kind": review.kind,
        "status": review.status,
        "requested_by": review.requested_by,
        "requested_at": _iso(review.requested_at),
        "reason": review.reason,
        "touches_social_graph": review.touches_social_graph,
        "confirmed_at": _iso(review.confirmed_at),
        "opens_at": _iso(review.opens_at),
        "reviewer": review.reviewer,
        "taken_at": _iso(review.taken_at),
        "decided_at": _iso(review.decided_at),
        "outcome": review.outcome,
        "reason_code": review.reason_code,
        "changes": review.changes or None,
        "note": review.note,
        "withdrawn_at": _iso(review.withdrawn_at),
        "due_at": _iso(due_at(review, policy)),
        "overdue": is_overdue(review, now, policy),
        "decision": review.decision.to_json(),
    }
    if actions is not None:
        document["actions"] = [action_document(a) for a in actions]
    return document
