"""The loan book as the risk team reads it: loans by status and delinquency bucket, the
trial balance, income and losses, and whether every ledger invariant holds. Read from the
ledger itself, so the report shows what the journal says, not what a job believed."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

from lendguard.loans.book import LoanBook
from lendguard.loans.invariants import ledger_problems

YEAR_FILE = "portfolio_year.json"  # the last simulated year's outcomes, beside the ledger


def book_snapshot(book: LoanBook) -> dict[str, Any]:
    """Portfolio rows (status x bucket), the trial balance, headline totals and problems."""
    rows = book.portfolio()
    balances = book.trial_balance()
    active = [r for r in rows if r["status"] == "active"]
    zero = Decimal(0)

    def total(key: str, among: list[dict[str, Any]]) -> Decimal:
        return sum((r[key] for r in among), zero)

    overdue = [r for r in active if r["bucket"] != "current"]
    outstanding = total("principal_outstanding", active)
    return {
        "by_status": rows,
        "balances": balances,
        "totals": {
            "loans": sum(r["loans"] for r in rows),
            "active_loans": sum(r["loans"] for r in active),
            "disbursed": total("principal", rows),
            "principal_outstanding": outstanding,
            "overdue_principal": total("principal_outstanding", overdue),
            "overdue_share": (total("principal_outstanding", overdue) / outstanding) if outstanding else zero,
            "interest_income": -balances.get("interest_income", zero),
            "penalty_income": -balances.get("penalty_income", zero),
            "fee_income": -balances.get("fee_income", zero),
            "credit_losses": balances.get("credit_losses", zero),
        },
        "problems": ledger_problems(book.sessions),
    }


def read_year(data_dir: Path) -> dict[str, Any] | None:
    path = Path(data_dir) / YEAR_FILE
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def write_year(data_dir: Path, year: dict[str, Any]) -> Path:
    path = Path(data_dir) / YEAR_FILE
    path.write_text(json.dumps(year, indent=2, ensure_ascii=False), encoding="utf-8")
    return path
