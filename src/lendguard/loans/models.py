"""The loan ledger's tables (SQLAlchemy 2): lines, loans, installments, the journal,
idempotency keys and contracts. Alembic migrations (`loans/migrations/`) create them.

Money columns hold whole minor units (`*_minor`, fen) as integers: exact on SQLite and
PostgreSQL alike. Exact running interest (fractions of a fen) is kept as a "p/q" text.
The cached balances on `loans` are a convenience for reads; the journal is the truth,
and `ledger.check_invariants` proves they agree.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class CreditLine(Base):
    """A revolving line on one product: drawdowns use it, principal repaid restores it."""

    __tablename__ = "credit_lines"
    line_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(64), index=True)
    product_id: Mapped[str] = mapped_column(String(32))
    limit_minor: Mapped[int] = mapped_column(BigInteger)
    used_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    daily_rate: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(16))  # open | frozen | closed
    policy_version: Mapped[str] = mapped_column(String(64))
    opened_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class Loan(Base):
    __tablename__ = "loans"
    loan_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    line_id: Mapped[str] = mapped_column(ForeignKey("credit_lines.line_id"), index=True)
    user_id: Mapped[str] = mapped_column(String(64), index=True)
    product_id: Mapped[str] = mapped_column(String(32))
    principal_minor: Mapped[int] = mapped_column(BigInteger)
    method: Mapped[str] = mapped_column(String(32))
    term_months: Mapped[int] = mapped_column(Integer)
    daily_rate: Mapped[str] = mapped_column(String(40))
    penalty_daily_rate: Mapped[str] = mapped_column(String(40))
    apr: Mapped[str] = mapped_column(String(40))
    start_date: Mapped[dt.date] = mapped_column(Date)
    maturity_date: Mapped[dt.date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), index=True)  # active | paid_off | written_off
    accrued_through: Mapped[dt.date] = mapped_column(Date)  # interest and penalty posted up to this day
    penalty_exact: Mapped[str] = mapped_column(Text, default="0")
    # Cached balances (minor units), kept in step with the journal in the same transaction.
    principal_outstanding: Mapped[int] = mapped_column(BigInteger)
    interest_receivable: Mapped[int] = mapped_column(BigInteger, default=0)
    penalty_receivable: Mapped[int] = mapped_column(BigInteger, default=0)
    fee_receivable: Mapped[int] = mapped_column(BigInteger, default=0)
    days_past_due: Mapped[int] = mapped_column(Integer, default=0)
    bucket: Mapped[str] = mapped_column(String(16), default="current")
    contract_sha256: Mapped[str] = mapped_column(String(64))
    policy_version: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    closed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class InstallmentRow(Base):
    __tablename__ = "installments"
    loan_id: Mapped[str] = mapped_column(ForeignKey("loans.loan_id"), primary_key=True)
    number: Mapped[int] = mapped_column(Integer, primary_key=True)
    start_date: Mapped[dt.date] = mapped_column(Date)  # the period runs (start_date, due_date]
    due_date: Mapped[dt.date] = mapped_column(Date)
    principal_minor: Mapped[int] = mapped_column(BigInteger)
    interest_minor: Mapped[int] = mapped_column(BigInteger)  # expected by the due date (final once due)
    fee_minor: Mapped[int] = mapped_column(BigInteger)
    interest_exact: Mapped[str] = mapped_column(Text, default="0")  # accrued so far, exact
    interest_accrued: Mapped[int] = mapped_column(BigInteger, default=0)  # posted so far
    principal_paid: Mapped[int] = mapped_column(BigInteger, default=0)
    interest_paid: Mapped[int] = mapped_column(BigInteger, default=0)
    fee_paid: Mapped[int] = mapped_column(BigInteger, default=0)
    fee_posted: Mapped[bool] = mapped_column(Boolean, default=False)  # the service fee became receivable
    overdue_fee_charged: Mapped[bool] = mapped_column(Boolean, default=False)


class JournalEntry(Base):
    __tablename__ = "journal_entries"
    entry_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    loan_id: Mapped[str | None] = mapped_column(String(64), index=True, nullable=True)
    kind: Mapped[str] = mapped_column(String(32))
    business_date: Mapped[dt.date] = mapped_column(Date)
    recorded_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    idempotency_key: Mapped[str | None] = mapped_column(String(128), nullable=True)
    memo: Mapped[str] = mapped_column(Text, default="")


class Posting(Base):
    __tablename__ = "postings"
    posting_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    entry_id: Mapped[str] = mapped_column(ForeignKey("journal_entries.entry_id"), index=True)
    account: Mapped[str] = mapped_column(String(32))
    loan_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    debit_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    credit_minor: Mapped[int] = mapped_column(BigInteger, default=0)

    __table_args__ = (Index("ix_postings_loan_account", "loan_id", "account"),)


class IdempotencyKey(Base):
    """A state-changing call's key, the hash of its request and its stored response."""

    __tablename__ = "idempotency_keys"
    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    operation: Mapped[str] = mapped_column(String(32))
    request_sha256: Mapped[str] = mapped_column(String(64))
    response: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class Contract(Base):
    __tablename__ = "contracts"
    loan_id: Mapped[str] = mapped_column(ForeignKey("loans.loan_id"), primary_key=True)
    text_zh: Mapped[str] = mapped_column(Text)
    text_en: Mapped[str] = mapped_column(Text)
    terms_json: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
