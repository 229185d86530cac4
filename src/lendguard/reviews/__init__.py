"""Human review of automated decisions (PIPL art. 24 / GDPR art. 22), bounded by policy and logged as evidence.

    service = ReviewService.open(data_dir, policy)
    review = service.request(user_id, decision)          # decision: VisibilityService.decision(...)
    service.take(review.review_id, "alice")
    service.decide(review.review_id, "alice", "overridden", clear_checks=["KY01"], reason_code="HR01")
    active_check_overrides(engine, [user_id])             # checks the visibility engine treats as passed

Importing the package registers the `review_action` record source for evidence audits.
"""

from lendguard.reviews.domain import (
    Action,
    Changes,
    DecisionSnapshot,
    LineChange,
    Review,
    ReviewError,
    RiskChange,
)
from lendguard.reviews.evidence_source import EVIDENCE_KIND
from lendguard.reviews.evidence_source import register as _register_evidence_source
from lendguard.reviews.report import build_report, render_report
from lendguard.reviews.rules import check_line_change
from lendguard.reviews.service import ReviewService, active_check_overrides

_register_evidence_source()

__all__ = [
    "EVIDENCE_KIND",
    "Action",
    "Changes",
    "DecisionSnapshot",
    "LineChange",
    "Review",
    "ReviewError",
    "ReviewService",
    "RiskChange",
    "active_check_overrides",
    "build_report",
    "check_line_change",
    "render_report",
]
