"""Exact money: Decimal amounts rounded to the minor unit by the policy's rule.

Amounts are `Decimal` in the domain and whole minor units (fen, `int`) in the database,
so neither SQLite nor PostgreSQL ever holds a binary float of money.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal, localcontext
from fractions import Fraction

from lendguard.policy.loans import ROUNDING_MODES, LoanPolicy

ZERO = Decimal(0)


@dataclass(frozen=True)
class MoneyRules:
    """The minor unit and the rounding rule every amount is kept to."""

    unit: Decimal = Decimal("0.01")
    rounding: str = ROUNDING_MODES["half_up"]

    @classmethod
    def of(cls, loans: LoanPolicy) -> MoneyRules:
        return cls(loans.minor_unit, loans.rounding_mode)

    def round(self, amount: Decimal) -> Decimal:
        """`amount` to the minor unit (computed at 40 digits, so no intermediate is lost)."""
        with localcontext() as context:
            context.prec = 40
            return amount.quantize(self.unit, rounding=self.rounding)

    def to_minor(self, amount: Decimal) -> int:
        """Whole minor units; refuses an amount that is not already rounded."""
        units = amount / self.unit
        if units != units.to_integral_value():
            raise ValueError(f"{amount} is not a whole number of {self.unit}")
        return int(units)

    def round_minor(self, amount: Fraction) -> int:
        """An exact amount (a fraction of currency units, >= 0) rounded to whole minor units."""
        units = amount / Fraction(self.unit)
        if self.rounding == ROUND_DOWN:
            return math.floor(units)
        if self.rounding == ROUND_HALF_EVEN:
            return round(units)  # Fraction rounds half to even
        return math.floor(units + Fraction(1, 2))

    def from_minor(self, units: int) -> Decimal:
        return (Decimal(units) * self.unit).quantize(self.unit)

    def parse(self, text: str | int | Decimal, what: str = "amount") -> Decimal:
        """A caller's amount: a decimal with at most the minor unit's places, above zero."""
        try:
            amount = Decimal(str(text))
        except ArithmeticError as exc:
            raise ValueError(f"{what} {text!r} is not a decimal number") from exc
        if not amount.is_finite() or amount <= 0:
            raise ValueError(f"{what} must be a positive amount, got {text!r}")
        if amount != amount.quantize(self.unit, rounding="ROUND_DOWN"):
            raise ValueError(f"{what} {text!r} has more decimal places than the minor unit {self.unit}")
        return amount.quantize(self.unit)
