"""Whose a line or a loan is: the access gate asks before a user-scoped caller touches one."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from lendguard.loans.models import CreditLine, Loan


def loan_owner(sessions: sessionmaker[Session], loan_id: str) -> str | None:
    with sessions() as session:
        return session.scalar(select(Loan.user_id).where(Loan.loan_id == loan_id))


def line_owner(sessions: sessionmaker[Session], line_id: str) -> str | None:
    with sessions() as session:
        return session.scalar(select(CreditLine.user_id).where(CreditLine.line_id == line_id))
