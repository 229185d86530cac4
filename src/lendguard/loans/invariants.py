"""What must always hold in the ledger; `lendguard loan check` and the tests run it.

- every journal entry balances (debits = credits), and so does the whole journal;
- each loan's cached balances equal its accounts' balances in the journal;
- each loan's installments sum to its principal, and principal repaid never exceeds it;
- each line's used amount equals the principal outstanding of its loans, within 0..limit;
- each disbursement moved exactly the contract principal (no head-cut interest).
"""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from lendguard.loans.models import (
    CreditLine,
    InstallmentRow,
    JournalEntry,
    Loan,
    Posting,
)

CACHED = {
    "loans_principal": "principal_outstanding",
    "interest_receivable": "interest_receivable",
    "penalty_receivable": "penalty_receivable",
    "fee_receivable": "fee_receivable",
}


def ledger_problems(sessions: sessionmaker[Session]) -> list[str]:
    """Every broken invariant, as a sentence (empty when the ledger is sound)."""
    problems: list[str] = []
    with sessions() as session:
        unbalanced = session.execute(
            select(Posting.entry_id, func.sum(Posting.debit_minor), func.sum(Posting.credit_minor))
            .group_by(Posting.entry_id)
            .having(func.sum(Posting.debit_minor) != func.sum(Posting.credit_minor))
        ).all()
        problems += [f"entry {e} is unbalanced: debits {d}, credits {c}" for e, d, c in unbalanced]
        per_loan: dict[tuple[str, str], int] = {}
        for loan_id, account, debit, credit in session.execute(
            select(Posting.loan_id, Posting.account, func.sum(Posting.debit_minor), func.sum(Posting.credit_minor)).group_by(Posting.loan_id, Posting.account)
        ):
            per_loan[(loan_id, account)] = int(debit or 0) - int(credit or 0)
        outstanding_by_line: dict[str, int] = defaultdict(int)
        scheduled = dict(session.execute(select(InstallmentRow.loan_id, func.sum(InstallmentRow.principal_minor)).group_by(InstallmentRow.loan_id)).all())
        repaid = dict(session.execute(select(InstallmentRow.loan_id, func.sum(InstallmentRow.principal_paid)).group_by(InstallmentRow.loan_id)).all())
        disbursed = {
            loan_id: int(amount)
            for loan_id, amount in session.execute(
                select(Posting.loan_id, func.sum(Posting.credit_minor))
                .join(JournalEntry, JournalEntry.entry_id == Posting.entry_id)
                .where(JournalEntry.kind == "disbursement", Posting.account == "cash")
                .group_by(Posting.loan_id)
            )
        }
        for loan in session.execute(select(Loan)).scalars():
            for account, column in CACHED.items():
                journal, cached = per_loan.get((loan.loan_id, account), 0), getattr(loan, column)
                if journal != cached:
                    problems.append(f"loan {loan.loan_id}: {account} is {journal} in the journal but {cached} cached")
            if int(scheduled.get(loan.loan_id, 0)) != loan.principal_minor:
                problems.append(f"loan {loan.loan_id}: installments sum to {scheduled.get(loan.loan_id)} but the principal is {loan.principal_minor}")
            if int(repaid.get(loan.loan_id, 0)) > loan.principal_minor:
                problems.append(f"loan {loan.loan_id}: {repaid[loan.loan_id]} principal repaid of {loan.principal_minor}")
            if disbursed.get(loan.loan_id) != loan.principal_minor:
                problems.append(f"loan {loan.loan_id}: disbursed {disbursed.get(loan.loan_id)} but the contract principal is {loan.principal_minor}")
            outstanding_by_line[loan.line_id] += loan.principal_outstanding
        for line in session.execute(select(CreditLine)).scalars():
            if line.used_minor != outstanding_by_line.get(line.line_id, 0):
                problems.append(f"line {line.line_id}: used {line.used_minor} but its loans owe {outstanding_by_line.get(line.line_id, 0)} principal")
            if not 0 <= line.used_minor <= line.limit_minor:
                problems.append(f"line {line.line_id}: used {line.used_minor} outside 0..{line.limit_minor}")
    return problems
