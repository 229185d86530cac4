"""Product admission, line and price as Polars expressions over the users' features.

One implementation serves a population (a frame of every user) and one user (a frame of
one row). Per product it adds the status of each admission check, the line factor score,
the line and the daily rate, all from policy values. A missing measure never passes a
check that requires it (no external score is not a score of 0, but it is not admitted).
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from lendguard.policy import Policy
from lendguard.policy.loans import LoanPolicy, Product

WEEKS_PER_MONTH = 52 / 12  # payments a week = payments a month / this


@dataclass(frozen=True)
class Check:
    """An admission check: its code, the measure it reads and its threshold (None: not required)."""

    code: str
    measure: str
    threshold: object
    strictly_above: bool = False


def checks_of(product: Product) -> list[Check]:
    a = product.admission
    found = [Check("LN00", "visible", True)]
    if a.external_score_min is not None:
        found.append(Check("LN01", "external_score", a.external_score_min))
    if a.real_name_months_over > 0:
        found.append(Check("LN02", "real_name_months", a.real_name_months_over, strictly_above=True))
    if a.app_opens_per_day_min is not None:
        found.append(Check("LN03", "app_opens_per_day", a.app_opens_per_day_min))
    if a.payments_per_week_min is not None:
        found.append(Check("LN04", "payments_per_week", a.payments_per_week_min))
    if a.payments_per_month_min is not None:
        found.append(Check("LN05", "payments_per_month", a.payments_per_month_min))
    if a.wealth_balance_min is not None:
        found.append(Check("LN06", "wealth_balance", a.wealth_balance_min))
    return found


def measures() -> list[pl.Expr]:
    """Measures admission reads that the feature table does not hold as such."""
    return [(pl.col("payments_per_month") / WEEKS_PER_MONTH).alias("payments_per_week")]


def _passes(check: Check) -> pl.Expr:
    column = pl.col(check.measure)
    if check.measure == "visible":
        return column.fill_null(False)
    threshold = float(check.threshold)
    met = column.cast(pl.Float64) > threshold if check.strictly_above else column.cast(pl.Float64) >= threshold
    return met.fill_null(False)


def line_score(product: Product, loans: LoanPolicy) -> pl.Expr:
    """The weighted line factors, each scaled to [0, 1] by its saturation value."""
    saturation, weights = loans.line_saturation, product.line_weights
    factors = [
        (pl.col("wealth_holding_days"), saturation.fund_retention_days, weights.fund_retention),
        (pl.col("spending_scenes"), saturation.scene_diversity, weights.scene_diversity),
        (pl.col("credit_history_years"), saturation.credit_history_years, weights.credit_history),
    ]
    terms = [(column.cast(pl.Float64).fill_null(0.0) / float(full)).clip(0.0, 1.0) * float(weight) for column, full, weight in factors]
    if weights.credit_score > 0:
        # The learned score (visibility.credit_score), from nothing at the floor to in full at `credit_score_full`.
        floor, span = float(saturation.credit_score_floor), float(saturation.credit_score_full - saturation.credit_score_floor)
        learned = ((pl.col("credit_score").cast(pl.Float64) - floor) / span).clip(0.0, 1.0).fill_null(0.0)
        terms.append(learned * float(weights.credit_score))
    return pl.sum_horizontal(terms)


def product_columns(product_id: str, product: Product, loans: LoanPolicy) -> list[pl.Expr]:
    """`{id}__{code}` pass flags, `{id}__score`, `{id}__line_units` (of line_step) and
    `{id}__rate_units` (of rate_step)."""
    score = line_score(product, loans)
    factor = pl.col("region_tier").replace_strict(
        {tier: float(f) for tier, f in loans.line_factor_by_region.items()}, default=1.0, return_dtype=pl.Float64
    )
    steps = float(product.max_line / product.line_step)
    spread = float((product.daily_rate_max - product.daily_rate_min) / product.rate_step)
    top = float(product.daily_rate_max / product.rate_step)
    # Tiny epsilons keep a product that lands exactly on a step from falling one step short.
    return [
        *[_passes(check).alias(f"{product_id}__{check.code}") for check in checks_of(product)],
        score.alias(f"{product_id}__score"),
        (score * factor * steps + 1e-9).floor().cast(pl.Int64).alias(f"{product_id}__line_units"),
        (top - score * spread + 1e-9).round(0).cast(pl.Int64).alias(f"{product_id}__rate_units"),
    ]


def admission_frame(features: pl.DataFrame, policy: Policy) -> pl.DataFrame:
    """`features` (with `visible` from the visibility decision) plus every product's columns."""
    loans = policy.loans
    frame = features.with_columns(measures())
    return frame.with_columns(
        [e for product_id, product in loans.products.items() for e in product_columns(product_id, product, loans)]
    )
