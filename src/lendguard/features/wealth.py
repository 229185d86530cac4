"""Wealth-product features: the balance held and how long a qualifying holding has been kept."""

from __future__ import annotations

import polars as pl

from lendguard.events.columns import MONEY_DTYPE
from lendguard.features.window import AsOf, latest
from lendguard.policy import Policy


def wealth_features(holdings: pl.LazyFrame, as_of: AsOf, policy: Policy) -> pl.LazyFrame:
    """Latest snapshot per product; a product qualifies when its balance reaches the minimum.

    A snapshot's `since` is the date from which the product has been held at no less than
    its balance, so the qualifying holding's age is as-of minus `since`.
    """
    minimum = pl.lit(policy.visibility.credit.min_wealth_balance, dtype=MONEY_DTYPE)
    per_product = (
        holdings.filter(as_of.until())
        .group_by("user_id", "product")
        .agg(latest("balance"), latest("since"))
    )
    held_days = (pl.lit(as_of.local_date) - pl.col("since")).dt.total_days()
    return per_product.group_by("user_id").agg(
        pl.col("balance").sum().cast(MONEY_DTYPE).alias("wealth_balance"),
        pl.col("balance").max().cast(MONEY_DTYPE).alias("largest_holding"),
        held_days.filter(pl.col("balance") >= minimum).max().cast(pl.Int64).alias("wealth_holding_days"),
    )
