"""Payment activity features: counts per month, offline share, monthly amounts, night share."""

from __future__ import annotations

import polars as pl

from lendguard.features.window import AsOf
from lendguard.policy import Policy


def month_column(i: int) -> str:
    """Spend in month i of the window, 0 being the most recent month."""
    return f"spend_month_{i}"


def payment_features(payments: pl.LazyFrame, as_of: AsOf, policy: Policy) -> pl.LazyFrame:
    rules = policy.visibility.payment_behaviour
    local_hour = as_of.local_hour()
    is_night = (local_hour >= rules.night_start_hour) | (local_hour < rules.night_end_hour)
    month = (as_of.days_before("ts") // as_of.days_per_month).cast(pl.Int32)
    amount = pl.col("amount").cast(pl.Float64)
    frame = payments.filter(as_of.within()).select(
        "user_id",
        "merchant_category",
        (pl.col("channel") == "offline_qr").alias("_offline"),
        is_night.alias("_night"),
        # Each payment's amount in its month's column (zero elsewhere): plain sums below.
        *[pl.when(month == i).then(amount).otherwise(0.0).alias(month_column(i)) for i in range(as_of.months)],
    )
    return frame.group_by("user_id").agg(
        pl.len().cast(pl.Int64).alias("payments"),
        pl.col("_offline").sum().cast(pl.Int64).alias("offline_payments"),
        pl.col("_night").sum().cast(pl.Int64).alias("night_payments"),
        pl.col("merchant_category").n_unique().cast(pl.Int64).alias("spending_scenes"),  # a product line factor
        *[pl.col(month_column(i)).sum() for i in range(as_of.months)],
    )


def derived_payment_features(as_of: AsOf) -> list[pl.Expr]:
    """Rates and shares computed once the per-user counts are joined (nulls already zero)."""
    months = [pl.col(month_column(i)) for i in range(as_of.months)]
    mean = pl.mean_horizontal(months)
    spread = pl.max_horizontal(months) - pl.min_horizontal(months)
    return [
        (pl.col("payments") / as_of.months).alias("payments_per_month"),
        pl.when(pl.col("payments") > 0)
        .then(pl.col("offline_payments") / pl.col("payments"))
        .otherwise(0.0)
        .alias("offline_share"),
        pl.when(pl.col("payments") > 0)
        .then(pl.col("night_payments") / pl.col("payments"))
        .otherwise(0.0)
        .alias("night_share"),
        pl.when(mean > 0).then(spread / mean).otherwise(0.0).alias("monthly_volatility"),
    ]
