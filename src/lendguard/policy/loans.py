"""The policy's loan section: products, their admission, line and price, and the money rules.

SPEC §2 (seed 004). Amounts and rates are decimals written as strings in the file
("200000", "0.0005") so no binary float ever touches money.
"""

from __future__ import annotations

from decimal import ROUND_DOWN, ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal
from typing import Literal

from pydantic import Field, model_validator

from lendguard.policy.base import Bilingual, Strict

Method = Literal["equal_installment", "equal_principal", "interest_first", "daily_interest"]
Prepayment = Literal["free", "remaining_days_interest"]
Component = Literal["penalty", "fee", "interest", "principal"]
RegionTierName = Literal["tier1", "new_tier1", "other", "county"]

ROUNDING_MODES = {"half_up": ROUND_HALF_UP, "half_even": ROUND_HALF_EVEN, "down": ROUND_DOWN}
Money = Decimal
Rate = Decimal


class Admission(Strict):
    """What a user must show to be admitted to a product (unset: not required)."""

    external_score_min: int | None = Field(default=None, ge=0)  # a Sesame-like score
    real_name_months_over: int = Field(default=0, ge=0)  # real-name age strictly above
    app_opens_per_day_min: Decimal | None = Field(default=None, ge=0)
    payments_per_week_min: Decimal | None = Field(default=None, ge=0)
    payments_per_month_min: Decimal | None = Field(default=None, ge=0)
    wealth_balance_min: Money | None = Field(default=None, ge=0)


class LineWeights(Strict):
    """How much each line factor counts for a product (they sum to 1)."""

    fund_retention: Decimal = Field(ge=0)
    scene_diversity: Decimal = Field(ge=0)
    credit_history: Decimal = Field(ge=0)
    # The learned score (the scorecard at `scoring.model`); 0 leaves line and price to the
    # three factors above.
    credit_score: Decimal = Field(default=Decimal(0), ge=0)

    @model_validator(mode="after")
    def _sum_to_one(self) -> LineWeights:
        total = self.fund_retention + self.scene_diversity + self.credit_history + self.credit_score
        if total != 1:
            raise ValueError(f"line weights must sum to 1, they sum to {total}")
        return self


class Product(Strict):
    """One loan product's terms (SPEC §2's table)."""

    name: Bilingual
    platform: Literal["in_app", "other_app"]
    max_line: Money = Field(gt=0)
    min_line: Money = Field(ge=0)  # a computed line below this is no offer
    line_step: Money = Field(gt=0)  # lines are rounded down to a multiple of this
    min_drawdown: Money = Field(gt=0)  # the smallest amount one drawdown may borrow
    daily_rate_min: Rate = Field(gt=0, lt=1)
    daily_rate_max: Rate = Field(gt=0, lt=1)
    rate_step: Rate = Field(gt=0)
    methods: list[Method] = Field(min_length=1)
    terms_months: list[int] = Field(min_length=1)
    default_method: Method
    default_term_months: int = Field(ge=1)
    penalty_multiplier: Decimal = Field(ge=1)  # overdue daily rate = daily rate x this
    overdue_fee: Money = Field(default=Decimal(0), ge=0)  # fixed, once per overdue installment
    prepayment: Prepayment
    service_fee_monthly: Rate = Field(default=Decimal(0), ge=0, lt=1)  # share of principal, with each installment
    admission: Admission
    line_weights: LineWeights

    @model_validator(mode="after")
    def _consistent(self) -> Product:
        problems = []
        if self.daily_rate_min > self.daily_rate_max:
            problems.append(f"daily_rate_min {self.daily_rate_min} is above daily_rate_max {self.daily_rate_max}")
        if self.min_line > self.max_line:
            problems.append(f"min_line {self.min_line} is above max_line {self.max_line}")
        if self.default_method not in self.methods:
            problems.append(f"default_method {self.default_method!r} is not one of methods {self.methods}")
        if self.default_term_months not in self.terms_months:
            problems.append(f"default_term_months {self.default_term_months} is not one of terms_months {self.terms_months}")
        if any(term < 1 or term > 60 for term in self.terms_months):
            problems.append("terms_months must lie between 1 and 60")
        if problems:
            raise ValueError("; ".join(problems))
        return self


class Caps(Strict):
    """Legal price limits: an offer above `offer_apr` is refused; the judicial protection
    ceiling is `judicial_lpr_multiple` x the one-year LPR."""

    offer_apr: Rate = Field(gt=0, lt=1)
    lpr_one_year: Rate = Field(gt=0, lt=1)
    judicial_lpr_multiple: Decimal = Field(gt=0)
    judicial_ceiling_refuses: bool = False  # True: an offer above the judicial ceiling is refused too
    penalty_apr: Rate = Field(gt=0, lt=1)  # overdue daily rate x days_per_year never exceeds this

    @property
    def judicial_ceiling(self) -> Decimal:
        return self.lpr_one_year * self.judicial_lpr_multiple


class LineSaturation(Strict):
    """The value at which each line factor counts in full (scores are capped at 1)."""

    fund_retention_days: Decimal = Field(gt=0)
    scene_diversity: Decimal = Field(gt=0)
    credit_history_years: Decimal = Field(gt=0)
    # The score counts nothing at or below the floor and in full at `credit_score_full`.
    credit_score_floor: Decimal
    credit_score_full: Decimal

    @model_validator(mode="after")
    def _score_range(self) -> LineSaturation:
        if self.credit_score_full <= self.credit_score_floor:
            raise ValueError(f"credit_score_full {self.credit_score_full} must be above credit_score_floor {self.credit_score_floor}")
        return self


class DelinquencyBucket(Strict):
    name: str = Field(min_length=1)
    from_days: int = Field(ge=1)  # days past due from which a loan is in this bucket


class LoanPolicy(Strict):
    """Money rules and products."""

    lender: str = Field(min_length=1)  # the licensed lender named in contracts
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    minor_unit: Money = Field(gt=0)  # the smallest amount: 0.01 (a fen)
    rounding: Literal["half_up", "half_even", "down"]
    days_per_month: int = Field(ge=28, le=31)  # an installment loan's period rate = daily rate x this
    days_per_year: int = Field(ge=360, le=366)  # a daily-interest loan's APR = its daily IRR x this
    allocation_order: list[Component]
    delinquency_buckets: list[DelinquencyBucket] = Field(min_length=1)
    write_off_after_days: int = Field(ge=1)
    line_factor_by_region: dict[RegionTierName, Decimal] = {}  # multiplier of max_line (unset: 1)
    line_saturation: LineSaturation
    caps: Caps
    products: dict[str, Product] = Field(min_length=1)

    @model_validator(mode="after")
    def _rules(self) -> LoanPolicy:
        problems = []
        if sorted(self.allocation_order) != sorted(["penalty", "fee", "interest", "principal"]):
            problems.append(f"allocation_order must name penalty, fee, interest and principal once each, got {self.allocation_order}")
        starts = [b.from_days for b in self.delinquency_buckets]
        if starts != sorted(set(starts)):
            problems.append(f"delinquency_buckets must start at strictly increasing days, got {starts}")
        for tier, factor in self.line_factor_by_region.items():
            if not 0 < factor <= 1:
                problems.append(f"line_factor_by_region.{tier} must be in (0, 1], got {factor}")
        for product_id, product in self.products.items():
            if not product_id.replace("_", "").replace("-", "").isalnum() or not product_id.isupper():
                problems.append(f"products.{product_id}: ids are upper-case letters, digits, '-' and '_'")
            if product.max_line % self.minor_unit or product.line_step % self.minor_unit:
                problems.append(f"products.{product_id}: max_line and line_step must be whole multiples of {self.minor_unit}")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def rounding_mode(self) -> str:
        return ROUNDING_MODES[self.rounding]
