"""What a new level sets in motion: R2 opens the second verification and human review.

R1 needs nothing (it recovers by itself, `RiskBook.recover_due`); R3 closes the entry
for good (no review can lower it below the policy's bounds).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from lendguard.fraud.book import Transition
from lendguard.policy import Policy
from lendguard.reviews.domain import ReviewError
from lendguard.reviews.service import ReviewService


def r2_decision(transition: Transition, policy: Policy) -> dict:
    """The decision document an R2 review starts from: the anti-fraud check that now fails."""
    return {
        "user_id": transition.user_id,
        "visible": False,
        "as_of": transition.at.isoformat(),
        "policy_version": policy.version,
        "policy_sha256": policy.sha256,
        "reason_codes": ["AF01"],
        "failed_dimensions": ["anti_fraud"],
        "dimensions": [
            {
                "dimension": "anti_fraud",
                "checks": [
                    {
                        "code": "AF01",
                        "status": "fail",
                        "measured": {"risk_level": "R2", "rule_id": transition.rule_id, "rule_key": transition.rule_key, **transition.details},
                    }
                ],
            }
        ],
    }


def open_r2_reviews(reviews: Path | ReviewService, policy: Policy, made: Iterable[Transition]) -> list[str]:
    """Open the R2 review of each user a transition raised to R2 (once: an open one stays).

    `reviews` is a data directory, or the review service of a caller that opens many
    (the stream runner keeps one rather than opening the catalogue and log each time)."""
    raised = [t for t in made if t.to_level == "R2"]
    if not raised:
        return []
    service = reviews if isinstance(reviews, ReviewService) else ReviewService.open(reviews, policy)
    opened = []
    for transition in raised:
        try:
            opened.append(service.open_r2(transition.user_id, r2_decision(transition, policy), opened_by="fraud-engine").review_id)
        except ReviewError:
            continue  # already under review, or a later transition moved the level on
    return opened
