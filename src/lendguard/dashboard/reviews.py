"""The human-review queue (PIPL art. 24): open reviews by status and kind, the overdue ones
(open past `reviews.decide_within_days` while the lender holds them) and the team's override
rate, from the reviews' own report (`reviews.report.build_report`)."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Sequence
from typing import Any

from lendguard.dashboard.section import empty, ok
from lendguard.policy import Policy
from lendguard.reviews.domain import KINDS, OPEN_STATUSES, STATUSES, Review
from lendguard.reviews.report import build_report

OVERDUE_SHOWN = 20


def reviews_section(reviews: Sequence[Review], now: dt.datetime, policy: Policy) -> dict[str, Any]:
    if not reviews:
        return empty(
            "No human reviews yet: users ask for one with `POST /v1/reviews`, and an R2 level opens one.",
            "尚无人工复核：用户可通过 `POST /v1/reviews` 申请，风险等级升至 R2 时也会自动发起。",
            open=0, overdue_count=0, by_status=[{"status": s, "reviews": 0} for s in STATUSES], decide_within_days=policy.reviews.decide_within_days,
        )
    report = build_report(reviews, now, policy)
    open_by_kind = Counter(r.kind for r in reviews if r.status in OPEN_STATUSES)  # reviews are few: a queue, not a population
    return ok(
        now=now,
        decide_within_days=report["decide_within_days"],
        total=len(reviews),
        open=sum(report["by_status"][s] for s in OPEN_STATUSES),
        by_status=[{"status": s, "reviews": report["by_status"][s]} for s in STATUSES],
        open_by_kind=[{"kind": k, "reviews": open_by_kind.get(k, 0)} for k in KINDS],
        overdue_count=len(report["overdue"]),
        overdue=report["overdue"][:OVERDUE_SHOWN],
        team=report["team"],
        flagged_reviewers=report["flagged"],
    )
