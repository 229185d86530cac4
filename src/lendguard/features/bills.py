"""Bill and utility payment features."""

from __future__ import annotations

import polars as pl

from lendguard.features.window import AsOf


def bill_features(bills: pl.LazyFrame, as_of: AsOf) -> pl.LazyFrame:
    return (
        bills.filter(as_of.within(as_of.quarter_days))
        .group_by("user_id")
        .agg(pl.len().cast(pl.Int64).alias("bill_payments_quarter"))
    )
