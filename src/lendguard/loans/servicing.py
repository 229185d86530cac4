"""Servicing a loan day by day: interest and penalty accrual, fees falling due, ageing,
repayment allocation and prepayment. No I/O: these functions change a loan's rows in
memory and return the journal lines the change needs; `book.py` stores both at once.

Interest of an installment loan accrues inside each period on the principal still
scheduled for that period and later, at the period rate spread evenly over the period's
days, exactly (fractions) and posted rounded, so a period that runs undisturbed accrues
precisely the schedule's interest. Overdue principal bears penalty interest instead.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction

from lendguard.loans.models import InstallmentRow, Loan
from lendguard.loans.money import MoneyRules
from lendguard.loans.schedule import amortize, period_rate
from lendguard.policy.loans import LoanPolicy

RECEIVABLE = {"principal": "loans_principal", "interest": "interest_receivable", "penalty": "penalty_receivable", "fee": "fee_receivable"}
INCOME = {"interest": "interest_income", "penalty": "penalty_income", "fee": "fee_income"}
ACCOUNTS = {
    "cash": "asset",
    "loans_principal": "asset",
    "interest_receivable": "asset",
    "penalty_receivable": "asset",
    "fee_receivable": "asset",
    "interest_income": "income",
    "penalty_income": "income",
    "fee_income": "income",
    "credit_losses": "expense",
}


class ServicingError(ValueError):
    """A servicing request the loan's state does not allow; `code` is machine-readable."""

    def __init__(self, code: str, message: str, **details: object):
        super().__init__(message)
        self.code, self.details = code, details


@dataclass
class Lines:
    """Journal lines being gathered for one entry: (account, debit, credit) in minor units."""

    items: list[tuple[str, int, int]] = field(default_factory=list)

    def move(self, debit_account: str, credit_account: str, amount: int) -> None:
        if amount < 0:
            raise ValueError(f"a journal amount cannot be negative ({amount})")
        if amount:
            self.items.append((debit_account, amount, 0))
            self.items.append((credit_account, 0, amount))

    def debit(self, account: str, amount: int) -> None:
        if amount:
            self.items.append((account, amount, 0))

    def credit(self, account: str, amount: int) -> None:
        if amount:
            self.items.append((account, 0, amount))

    def balanced(self) -> bool:
        return sum(d for _, d, _ in self.items) == sum(c for _, _, c in self.items)


def frac(text: str | Decimal) -> Fraction:
    return Fraction(text) if isinstance(text, str) else Fraction(text)


def text_of(value: Fraction) -> str:
    return f"{value.numerator}/{value.denominator}" if value.denominator != 1 else str(value.numerator)


def unpaid_principal(i: InstallmentRow) -> int:
    return i.principal_minor - i.principal_paid


def is_settled(i: InstallmentRow) -> bool:
    return i.principal_paid >= i.principal_minor and i.interest_paid >= i.interest_minor and i.fee_paid >= i.fee_minor


@dataclass(frozen=True)
class Servicer:
    """The policy's money rules, bound once."""

    loans: LoanPolicy
    money: MoneyRules = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "money", MoneyRules.of(self.loans))  # read on every accrual: built once

    def daily_interest_rate(self, loan: Loan, i: InstallmentRow) -> Fraction:
        """Interest per unit of principal per day inside installment `i`'s period."""
        if loan.method == "daily_interest":
            return frac(loan.daily_rate)
        return frac(loan.daily_rate) * self.loans.days_per_month / (i.due_date - i.start_date).days

    # ---- accrual -------------------------------------------------------------------------
    def accrue(self, loan: Loan, installments: list[InstallmentRow], through: dt.date, lines: Lines) -> None:
        """Post interest, penalty and fees from the day after `loan.accrued_through` to `through`."""
        if through <= loan.accrued_through:
            return
        start = loan.accrued_through
        self._accrue_interest(loan, installments, start, through, lines)
        self._accrue_penalty(loan, installments, start, through, lines)
        self._fees_due(loan, installments, start, through, lines)
        loan.accrued_through = through
        self.age(loan, installments, through)

    def _accrue_interest(self, loan: Loan, installments: list[InstallmentRow], start: dt.date, end: dt.date, lines: Lines) -> None:
        later = sum(unpaid_principal(i) for i in installments)  # principal of this period and later
        for i in installments:
            if i.due_date > start and i.start_date < end:
                days = (min(end, i.due_date) - max(start, i.start_date)).days
                exact = frac(i.interest_exact) + Fraction(later) * Fraction(self.money.unit) * self.daily_interest_rate(loan, i) * days
                posted = self.money.round_minor(exact)
                delta = posted - i.interest_accrued
                i.interest_exact, i.interest_accrued = text_of(exact), posted
                if loan.method == "daily_interest" or end >= i.due_date:
                    i.interest_minor = posted  # final once the period is over (daily interest: as it accrues)
                lines.move("interest_receivable", "interest_income", delta)
                loan.interest_receivable += delta
            later -= unpaid_principal(i)

    def _accrue_penalty(self, loan: Loan, installments: list[InstallmentRow], start: dt.date, end: dt.date, lines: Lines) -> None:
        rate = frac(loan.penalty_daily_rate)
        exact = frac(loan.penalty_exact)
        for i in installments:
            overdue = unpaid_principal(i)
            first = max(start, i.due_date)  # penalty runs for days after the due date
            if overdue and first < end:
                exact += Fraction(overdue) * Fraction(self.money.unit) * rate * (end - first).days
        posted_before = self.money.round_minor(frac(loan.penalty_exact))
        delta = self.money.round_minor(exact) - posted_before
        loan.penalty_exact = text_of(exact)
        lines.move("penalty_receivable", "penalty_income", delta)
        loan.penalty_receivable += delta

    def _fees_due(self, loan: Loan, installments: list[InstallmentRow], start: dt.date, end: dt.date, lines: Lines) -> None:
        overdue_fee = self.money.to_minor(self.loans.products[loan.product_id].overdue_fee.quantize(self.money.unit))
        for i in installments:
            if not i.fee_posted and i.due_date <= end:
                i.fee_posted = True
                lines.move("fee_receivable", "fee_income", i.fee_minor)
                loan.fee_receivable += i.fee_minor
            if overdue_fee and not i.overdue_fee_charged and i.due_date < end and not is_settled(i):
                i.overdue_fee_charged = True
                lines.move("fee_receivable", "fee_income", overdue_fee)
                loan.fee_receivable += overdue_fee

    def age(self, loan: Loan, installments: list[InstallmentRow], today: dt.date) -> None:
        """Days past due of the oldest unsettled installment, and its delinquency bucket."""
        late = [i.due_date for i in installments if i.due_date < today and not is_settled(i)]
        loan.days_past_due = (today - min(late)).days if late else 0
        loan.bucket = "current"
        for bucket in self.loans.delinquency_buckets:
            if loan.days_past_due >= bucket.from_days:
                loan.bucket = bucket.name

    # ---- repayment ----------------------------------------------------------------------
    def payoff_amount(self, loan: Loan, installments: list[InstallmentRow], today: dt.date) -> int:
        """What closes the loan today (after accrual to today): every receivable, the
        principal, and the remaining-days interest a product charges on prepaid principal."""
        future = [i for i in installments if i.due_date > today]
        future_principal = sum(unpaid_principal(i) for i in future)
        return (
            loan.penalty_receivable + loan.fee_receivable + loan.interest_receivable + loan.principal_outstanding
            + self._prepayment_charge(loan, future, future_principal, today)[0]
        )

    def due_amount(self, loan: Loan, installments: list[InstallmentRow], today: dt.date) -> int:
        """What is due today (after accrual to today): penalty and fees, then the interest and
        principal of every installment due by today. Paying it cures the loan; more prepays."""
        due = [i for i in installments if i.due_date <= today]
        return (
            loan.penalty_receivable + loan.fee_receivable
            + sum(i.interest_accrued - i.interest_paid + unpaid_principal(i) for i in due)
        )

    def _prepayment_rate(self, loan: Loan, future: list[InstallmentRow], today: dt.date) -> Fraction:
        """Interest charged per unit of prepaid principal: the rest of the current period's
        days, for a product whose prepayment rule charges them (else 0)."""
        product = self.loans.products[loan.product_id]
        if product.prepayment != "remaining_days_interest" or not future:
            return Fraction(0)
        current = future[0]
        return self.daily_interest_rate(loan, current) * (current.due_date - today).days

    def _prepayment_charge(self, loan: Loan, future: list[InstallmentRow], principal: int, today: dt.date) -> tuple[int, Fraction]:
        return self._charge_at(principal, self._prepayment_rate(loan, future, today))

    def _charge_at(self, principal: int, rate: Fraction) -> tuple[int, Fraction]:
        """The charge on `principal` minor units at `rate`: rounded minor units, and exact."""
        exact = Fraction(principal) * Fraction(self.money.unit) * rate
        return self.money.round_minor(exact), exact

    def repay(self, loan: Loan, installments: list[InstallmentRow], amount: int, today: dt.date, lines: Lines) -> dict[str, int]:
        """Apply `amount` (minor units) received today; returns what it paid, by component.

        First what is due, in the policy's allocation order (oldest installment first
        within a component), then interest accrued in the current period, then principal
        not yet due (a prepayment: the rest of the schedule is re-spread). An amount above
        the payoff is refused whole."""
        if loan.status != "active":
            raise ServicingError("loan_closed", f"loan {loan.loan_id} is {loan.status}; it takes no repayments")
        payoff = self.payoff_amount(loan, installments, today)
        if amount > payoff:
            raise ServicingError(
                "amount_exceeds_payoff", f"{self.money.from_minor(amount)} is more than the {self.money.from_minor(payoff)} that pays loan {loan.loan_id} off today",
                payoff=str(self.money.from_minor(payoff)),
            )
        paid = {"penalty": 0, "fee": 0, "interest": 0, "principal": 0, "prepayment_interest": 0, "prepaid_principal": 0}
        left = amount
        due = [i for i in installments if i.due_date <= today]
        for component in self.loans.allocation_order:
            left = self._pay_component(loan, due, component, left, paid)
        future = [i for i in installments if i.due_date > today]
        if left and future:
            left = self._pay_component(loan, future, "interest", left, paid)  # accrued in the current period
        if left and future:
            left = self._prepay(loan, future, left, today, paid, lines)
        if left:  # only what a payoff check let through can get here
            raise ServicingError("allocation_failed", f"{self.money.from_minor(left)} of the repayment could not be applied")
        lines.debit("cash", amount)
        for component in ("penalty", "fee", "interest", "principal"):
            lines.credit(RECEIVABLE[component], paid[component])
        loan.principal_outstanding -= paid["principal"]
        self.age(loan, installments, today)
        if loan.principal_outstanding == 0 and not (loan.interest_receivable or loan.penalty_receivable or loan.fee_receivable):
            loan.status = "paid_off"
        return paid

    def _pay_component(self, loan: Loan, rows: list[InstallmentRow], component: str, left: int, paid: dict[str, int]) -> int:
        if component == "penalty":
            take = min(left, loan.penalty_receivable)
            loan.penalty_receivable -= take
        elif component == "fee":
            take = min(left, loan.fee_receivable)
            loan.fee_receivable -= take
            spread = take
            for i in rows:  # service fees of installments, oldest first; the rest pays overdue fees
                part = min(spread, i.fee_minor - i.fee_paid) if i.fee_posted else 0
                i.fee_paid += part
                spread -= part
        elif component == "interest":
            take = 0
            for i in rows:
                part = min(left - take, i.interest_accrued - i.interest_paid)
                i.interest_paid += part
                take += part
            loan.interest_receivable -= take
        else:
            take = 0
            for i in rows:
                part = min(left - take, unpaid_principal(i))
                i.principal_paid += part
                take += part
        paid[component] += take
        return left - take

    def _prepay(self, loan: Loan, future: list[InstallmentRow], left: int, today: dt.date, paid: dict[str, int], lines: Lines) -> int:
        remaining = sum(unpaid_principal(i) for i in future)
        # The charge comes out of the same amount: prepay the most principal p with
        # p + charge(p) <= left. Start from the unrounded solution, then settle the rounding.
        most = min(remaining, left)
        rate = self._prepayment_rate(loan, future, today)
        principal = min(most, math.floor(Fraction(left) / (1 + rate)))
        while principal < most and principal + 1 + self._charge_at(principal + 1, rate)[0] <= left:
            principal += 1
        charge = self._charge_at(principal, rate)[0]
        while principal and principal + charge > left:
            principal -= 1
            charge = self._charge_at(principal, rate)[0]
        if principal < most and principal + charge < left:
            # `left` falls between two steps: one more fen of principal also raises the rounded
            # charge by a fen, so p + charge(p) skips this amount and a fen would be left over.
            # That fen prepays principal at the lower charge (the rest of the amount): every
            # amount up to the payoff is applied whole, and the charge is never more than the
            # rounded charge on the principal prepaid (left < p + 1 + charge(p + 1)).
            principal += 1
            charge = left - principal
        current = future[0]
        if charge:
            # The exact record grows by the charge as rounded and paid, so it keeps rounding to
            # what is posted (the unrounded charge could round the period's total back down,
            # and the next accrual would then post a negative amount).
            current.interest_exact = text_of(frac(current.interest_exact) + Fraction(charge) * Fraction(self.money.unit))
            current.interest_accrued += charge
            current.interest_paid += charge
            current.interest_minor = max(current.interest_minor, current.interest_accrued)
            lines.move("interest_receivable", "interest_income", charge)
            paid["interest"] += charge
            paid["prepayment_interest"] = charge
        # The prepaid principal is booked on the current installment; the rest is re-spread.
        left_after = remaining - principal
        current.principal_minor = current.principal_paid + principal
        current.principal_paid += principal
        paid["principal"] += principal
        paid["prepaid_principal"] = principal
        if left_after:
            self._respread(loan, future, left_after, today)
        else:
            for i in future:
                i.principal_minor = i.principal_paid
                i.interest_minor = i.interest_accrued
        return left - principal - charge

    def _respread(self, loan: Loan, future: list[InstallmentRow], principal: int, today: dt.date) -> None:
        """Re-spread `principal` over the future installments with the loan's method."""
        money = self.money
        rate = period_rate(Decimal(loan.daily_rate), self.loans.days_per_month)
        if loan.method == "daily_interest":
            rate = Decimal(loan.daily_rate) * (future[0].due_date - future[0].start_date).days
        spread = amortize(money.from_minor(principal), loan.method, rate, [i.due_date for i in future], future[0].start_date, money)
        current = future[0]
        for row, new in zip(future, spread, strict=True):
            extra = money.to_minor(new.principal)
            row.principal_minor = row.principal_paid + extra
            if row is current:  # what has accrued, plus the rest of the period on the new principal
                rest = Fraction(principal) * Fraction(money.unit) * self.daily_interest_rate(loan, row) * (row.due_date - today).days
                row.interest_minor = money.round_minor(frac(row.interest_exact) + rest)
            else:
                row.interest_minor = money.to_minor(new.interest)

    # ---- write-off ------------------------------------------------------------------------
    def write_off(self, loan: Loan, lines: Lines) -> int:
        """Move every receivable of the loan to credit losses; returns the amount."""
        if loan.status != "active":
            raise ServicingError("loan_closed", f"loan {loan.loan_id} is {loan.status}; it cannot be written off")
        parts = {
            "loans_principal": loan.principal_outstanding, "interest_receivable": loan.interest_receivable,
            "penalty_receivable": loan.penalty_receivable, "fee_receivable": loan.fee_receivable,
        }
        for account, amount in parts.items():
            lines.move("credit_losses", account, amount)
        loan.principal_outstanding = loan.interest_receivable = loan.penalty_receivable = loan.fee_receivable = 0
        loan.status = "written_off"
        return sum(parts.values())
