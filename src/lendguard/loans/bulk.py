"""Schedules for many loans at once, in whole minor units, equal to `schedule.py`'s.

For a population (offer pricing, benchmarks) the per-loan Decimal schedule is too slow.
Here every amount is an integer number of minor units and every rounding is integer
arithmetic, so the results are exactly those of `build_schedule`. The one float is the
equal installment's payment P r g / (g - 1); a payment within a hair of a rounding
boundary is recomputed in Decimal, so it too is exact.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal

import numpy as np

from lendguard.loans.money import MoneyRules
from lendguard.loans.schedule import level_payment
from lendguard.policy.loans import Method

TIE_MARGIN = 1e-6  # minor units: closer than this to a rounding boundary, recompute exactly


@dataclass(frozen=True)
class BulkSchedules:
    """`principal` and `interest` are (loans x installments) integer matrices of minor units."""

    principal: np.ndarray
    interest: np.ndarray
    fee: np.ndarray  # per installment, (loans,)

    def cash_flows(self, minor_unit: Decimal) -> np.ndarray:
        """(loans x (installments + 1)) in currency units: the principal out, each installment back."""
        unit = float(minor_unit)
        flows = np.empty((self.principal.shape[0], self.principal.shape[1] + 1))
        flows[:, 0] = -self.principal.sum(axis=1) * unit
        flows[:, 1:] = (self.principal + self.interest + self.fee[:, None]) * unit
        return flows


def divide_rounded(numerator: np.ndarray, denominator: int | np.ndarray, rounding: str) -> np.ndarray:
    """numerator / denominator (both >= 0, integers) rounded to an integer by `rounding`."""
    quotient, remainder = np.divmod(numerator, denominator)
    if rounding == ROUND_DOWN:
        return quotient
    twice = 2 * remainder
    up = twice > denominator
    if rounding == ROUND_HALF_EVEN:
        up |= (twice == denominator) & (quotient % 2 == 1)
    else:  # half up
        up |= twice == denominator
    return quotient + up


def _scale_of(rate_step: Decimal) -> int:
    exponent = rate_step.normalize().as_tuple().exponent
    return 10 ** max(0, -int(exponent))


def bulk_schedules(
    principal: np.ndarray,
    daily_rate_units: np.ndarray,
    rate_step: Decimal,
    term_months: int,
    method: Method,
    money: MoneyRules,
    days_per_month: int = 30,
    term_days: int | None = None,
    service_fee_monthly: Decimal = Decimal(0),
) -> BulkSchedules:
    """Schedules of loans sharing a method and term: `principal` in minor units, the daily
    rate in units of `rate_step` (the policy's rates are whole steps). `term_days` (the
    actual days to maturity) is needed for daily-interest loans."""
    principal = np.asarray(principal, dtype=np.int64)
    scale = _scale_of(rate_step)
    per_unit = int(rate_step * scale)  # rate_step = per_unit / scale
    rate_numerator = np.asarray(daily_rate_units, dtype=np.int64) * per_unit  # daily rate = this / scale
    count = len(principal)
    fee_scale = _scale_of(service_fee_monthly) if service_fee_monthly else 1
    fee = divide_rounded(principal * int(service_fee_monthly * fee_scale), fee_scale, money.rounding)
    if method == "daily_interest":
        if term_days is None:
            raise ValueError("daily-interest schedules need term_days")
        interest = divide_rounded(principal * rate_numerator * term_days, scale, money.rounding)
        whole_term_fee = divide_rounded(principal * int(service_fee_monthly * fee_scale) * term_months, fee_scale, money.rounding)
        return BulkSchedules(principal[:, None].copy(), interest[:, None], whole_term_fee)
    numerator = rate_numerator * days_per_month  # period rate = numerator / scale
    n = term_months
    principal_parts = np.zeros((count, n), dtype=np.int64)
    interest_parts = np.zeros((count, n), dtype=np.int64)
    if method == "equal_installment":
        payment = _level_payments(principal, numerator, scale, n, money)
    elif method == "equal_principal":
        share = divide_rounded(principal, n, money.rounding)
    outstanding = principal.copy()
    for k in range(n):
        interest = divide_rounded(outstanding * numerator, scale, money.rounding)
        if k == n - 1:
            part = outstanding
        elif method == "equal_installment":
            part = np.minimum(outstanding, np.maximum(0, payment - interest))
        elif method == "equal_principal":
            part = np.minimum(outstanding, share)
        else:
            part = np.zeros(count, dtype=np.int64)
        principal_parts[:, k] = part
        interest_parts[:, k] = interest
        outstanding = outstanding - part
    return BulkSchedules(principal_parts, interest_parts, fee)


def _level_payments(principal: np.ndarray, numerator: np.ndarray, scale: int, n: int, money: MoneyRules) -> np.ndarray:
    rate = numerator / scale
    growth = (1.0 + rate) ** n
    exact = principal * rate * growth / (growth - 1.0)
    if money.rounding == ROUND_DOWN:
        rounded, near = np.floor(exact), np.abs(exact - np.round(exact)) < TIE_MARGIN
    else:
        rounded = np.floor(exact + 0.5)
        near = np.abs(exact - np.floor(exact) - 0.5) < TIE_MARGIN  # half-even differs only at ties, recomputed here
    payment = rounded.astype(np.int64)
    unit = money.unit
    for index in np.flatnonzero(near):  # rare: settle in exact decimals
        value = level_payment(Decimal(int(principal[index])) * unit, Decimal(int(numerator[index])) / scale, n)
        payment[index] = money.to_minor(money.round(value))
    return payment
