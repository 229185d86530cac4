"""Profile features: the special customer group a user belongs to, and the real-name date."""

from __future__ import annotations

import polars as pl

from lendguard.features.window import AsOf, latest_known


def profile_features(profiles: pl.LazyFrame, as_of: AsOf) -> pl.LazyFrame:
    return (
        profiles.filter(as_of.until())
        .group_by("user_id")
        .agg(latest_known("customer_group"), latest_known("real_name_since"))
        .with_columns(
            ((pl.lit(as_of.local_date) - pl.col("real_name_since")).dt.total_days() / as_of.days_per_month).alias("real_name_months")
        )
    )
