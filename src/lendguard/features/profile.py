"""Profile features: the special customer group a user belongs to, if any."""

from __future__ import annotations

import polars as pl

from lendguard.features.window import AsOf


def profile_features(profiles: pl.LazyFrame, as_of: AsOf) -> pl.LazyFrame:
    return (
        profiles.filter(as_of.until())
        .sort("user_id", "ts")
        .group_by("user_id")
        .agg(pl.col("customer_group").drop_nulls().last().alias("customer_group"))
    )
