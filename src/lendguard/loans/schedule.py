"""Repayment schedules for the four methods, in exact decimals.

An installment loan's period rate is the daily rate x `days_per_month` (so a 0.05% daily
rate is 1.5% a month); its interest in each period is the outstanding principal x that
rate, rounded to the minor unit. The rounding residue of the principal goes to the last
installment, so installments always sum to the principal. A daily-interest loan (the
revolving line's "repay any time") is projected as one repayment at maturity with
interest for the actual days.
"""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass
from decimal import Decimal, localcontext

from lendguard.loans.money import ZERO, MoneyRules
from lendguard.policy.loans import Method


@dataclass(frozen=True)
class Terms:
    """What a contract fixes about a loan's repayment."""

    principal: Decimal
    term_months: int
    method: Method
    daily_rate: Decimal
    start: dt.date
    service_fee_monthly: Decimal = ZERO  # share of the principal, charged with each installment


@dataclass(frozen=True)
class Installment:
    number: int  # 1-based
    due_date: dt.date
    days: int  # days since the previous due date (or the start)
    principal: Decimal
    interest: Decimal
    fee: Decimal

    @property
    def amount(self) -> Decimal:
        return self.principal + self.interest + self.fee


@dataclass(frozen=True)
class Schedule:
    terms: Terms
    installments: tuple[Installment, ...]
    periods_per_year: Decimal  # the IRR's period: a month (12), or the whole term for one repayment

    @property
    def total_interest(self) -> Decimal:
        return sum((i.interest for i in self.installments), ZERO)

    @property
    def total_fees(self) -> Decimal:
        return sum((i.fee for i in self.installments), ZERO)

    @property
    def total_repaid(self) -> Decimal:
        return sum((i.amount for i in self.installments), ZERO)

    def cash_flows(self) -> list[Decimal]:
        """The borrower's view per period: the disbursed principal out (period 0), each
        installment back. Disbursed always equals the contract principal (no head-cut)."""
        return [-self.terms.principal, *(i.amount for i in self.installments)]


def add_months(start: dt.date, months: int) -> dt.date:
    """The same day `months` later, clamped to the month's last day (31 Jan -> 28/29 Feb)."""
    month_index = start.month - 1 + months
    year, month = start.year + month_index // 12, month_index % 12 + 1
    return dt.date(year, month, min(start.day, calendar.monthrange(year, month)[1]))


def due_dates(start: dt.date, count: int, first: int = 1) -> list[dt.date]:
    """Monthly due dates anchored on the start's day of month."""
    return [add_months(start, k) for k in range(first, first + count)]


def period_rate(daily_rate: Decimal, days_per_month: int) -> Decimal:
    return daily_rate * days_per_month


def level_payment(principal: Decimal, rate: Decimal, periods: int) -> Decimal:
    """The unrounded equal installment P r (1+r)^n / ((1+r)^n - 1)."""
    with localcontext() as context:
        context.prec = 40
        if rate == 0:
            return principal / periods
        growth = (1 + rate) ** periods
        return principal * rate * growth / (growth - 1)


def build_schedule(terms: Terms, money: MoneyRules, days_per_month: int = 30, days_per_year: int = 365) -> Schedule:
    """The contract's schedule (see the module docstring for the rules)."""
    if terms.principal <= 0 or terms.term_months < 1:
        raise ValueError(f"a schedule needs a positive principal and term, got {terms.principal} over {terms.term_months} months")
    if terms.method == "daily_interest":
        return _single_repayment(terms, money, days_per_year)
    dates = due_dates(terms.start, terms.term_months)
    installments = amortize(
        terms.principal, terms.method, period_rate(terms.daily_rate, days_per_month), dates, terms.start, money,
        fee=money.round(terms.principal * terms.service_fee_monthly),
    )
    return Schedule(terms, tuple(installments), Decimal(12))


def amortize(
    principal: Decimal,
    method: Method,
    rate: Decimal,
    dates: list[dt.date],
    previous: dt.date,
    money: MoneyRules,
    fee: Decimal = ZERO,
    first_number: int = 1,
) -> list[Installment]:
    """Installments repaying `principal` on `dates` at period rate `rate` (also used to
    re-spread what is left after a partial prepayment)."""
    count = len(dates)
    payment = money.round(level_payment(principal, rate, count)) if method == "equal_installment" else ZERO
    share = money.round(principal / count) if method == "equal_principal" else ZERO
    outstanding = principal
    installments = []
    for k, due in enumerate(dates):
        interest = money.round(outstanding * rate)
        last = k == count - 1
        if last:
            part = outstanding
        elif method == "equal_installment":
            part = min(outstanding, max(ZERO, payment - interest))
        elif method == "equal_principal":
            part = min(outstanding, share)
        else:  # interest_first: principal at maturity
            part = ZERO
        installments.append(Installment(first_number + k, due, (due - previous).days, part, interest, fee))
        outstanding -= part
        previous = due
    return installments


def _single_repayment(terms: Terms, money: MoneyRules, days_per_year: int) -> Schedule:
    maturity = add_months(terms.start, terms.term_months)
    days = (maturity - terms.start).days
    interest = money.round(terms.principal * terms.daily_rate * days)
    fee = money.round(terms.principal * terms.service_fee_monthly * terms.term_months)
    installment = Installment(1, maturity, days, terms.principal, interest, fee)
    return Schedule(terms, (installment,), Decimal(days_per_year) / Decimal(days))
