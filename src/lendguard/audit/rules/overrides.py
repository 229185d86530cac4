"""AU-RV-01..02: human-review overrides outside the review bounds (seed: 5x line
differences), judged by the same rules our own review service enforces."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from lendguard.audit.findings import Evidence, Finding, finding
from lendguard.audit.target import AuditTarget
from lendguard.reviews.domain import ReviewError
from lendguard.reviews.rules import check_line_change, check_risk_change

RULES = ("AU-RV-01", "AU-RV-02")
PARTS = ("reviews",)
# Refusals that are not overrides beyond bounds: raising a level is stricter, not laxer.
_NOT_VIOLATIONS = {"risk_level_raise", "risk_level_unchanged"}


def check(target: AuditTarget, policy) -> list[Finding]:
    file = target.source("reviews")
    found = []
    for k, record in enumerate(target.reviews):
        where = Evidence(file=file, location=f"record {k + 1} ({record.review_id})", quote=f"{record.kind}: {record.from_} -> {record.to}")
        try:
            if record.kind == "risk_level":
                check_risk_change(record.from_, record.to, record.verified, policy)
            else:
                check_line_change(_amount(record.from_), _amount(record.to), policy)
        except ReviewError as exc:
            if exc.code in _NOT_VIOLATIONS:
                continue
            rule = "AU-RV-01" if record.kind == "risk_level" else "AU-RV-02"
            found.append(finding(rule, where, f"复核{record.review_id}（{record.reviewer or '-'}）越权：{exc.message}",
                                 f"Review {record.review_id} ({record.reviewer or '-'}) is out of bounds: {exc.message}"))
    return found


def _amount(text: str) -> Decimal:
    try:
        return Decimal(text)
    except InvalidOperation:
        return Decimal("NaN")
