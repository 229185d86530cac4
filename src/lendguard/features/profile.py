"""Profile features: the special customer group a user belongs to, if any."""

from __future__ import annotations

import polars as pl

from lendguard.features.window import AsOf, latest_known


def profile_features(profiles: pl.LazyFrame, as_of: AsOf) -> pl.LazyFrame:
    return (
        profiles.filter(as_of.until())
        .group_by("user_id")
        .agg(latest_known("customer_group"))
    )
