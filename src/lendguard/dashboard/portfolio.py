"""The loan book: balances, loans and principal outstanding per delinquency bucket, and the
overdue rate, from the ledger itself (`loans.portfolio.book_snapshot`)."""

from __future__ import annotations

from typing import Any

from lendguard.dashboard.section import empty, ok, share
from lendguard.policy import Policy

CURRENT = "current"


def portfolio_section(snapshot: dict[str, Any] | None, year: dict[str, Any] | None, policy: Policy) -> dict[str, Any]:
    """`snapshot`: book_snapshot of the ledger (None when the data directory has no ledger)."""
    if snapshot is None:
        return empty("No loan ledger yet: loans are made with `lendguard loan apply` or `POST /v1/lines`.",
                     "尚无贷款账本：可通过 `lendguard loan apply` 或 `POST /v1/lines` 放款。")
    totals = snapshot["totals"]
    if not totals["loans"]:
        return empty("The ledger holds no loans yet.", "账本中尚无贷款。", totals=totals)
    buckets = [CURRENT, *(b.name for b in policy.loans.delinquency_buckets)]
    active = [r for r in snapshot["by_status"] if r["status"] == "active"]  # status x bucket rows: a handful
    by_bucket = []
    for bucket in buckets:
        rows = [r for r in active if r["bucket"] == bucket]
        by_bucket.append({
            "bucket": bucket,
            "loans": sum(r["loans"] for r in rows),
            "principal_outstanding": sum(float(r["principal_outstanding"]) for r in rows),
            "interest_receivable": sum(float(r["interest_receivable"]) for r in rows),
            "penalty_receivable": sum(float(r["penalty_receivable"]) for r in rows),
        })
    active_loans = totals["active_loans"]
    overdue_loans = sum(b["loans"] for b in by_bucket if b["bucket"] != CURRENT)
    return ok(
        currency=policy.loans.currency,
        totals=totals,
        overdue_rate={"by_principal": totals["overdue_share"], "by_loans": share(overdue_loans, active_loans), "overdue_loans": overdue_loans},
        buckets=[{"name": b.name, "from_days": b.from_days} for b in policy.loans.delinquency_buckets],
        by_bucket=by_bucket,
        by_status=snapshot["by_status"],
        balances=snapshot["balances"],
        problems=snapshot["problems"],
        year=None if year is None else {k: year[k] for k in ("start", "end") if k in year},
    )
