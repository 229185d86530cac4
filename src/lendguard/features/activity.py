"""App activity and external score features, read by product admission (SPEC §2)."""

from __future__ import annotations

import polars as pl

from lendguard.features.window import AsOf, latest_known


def app_open_features(app_opens: pl.LazyFrame, as_of: AsOf) -> pl.LazyFrame:
    """Average app opens a day over the look-back window (app_open events carry counts)."""
    return (
        app_opens.filter(as_of.within())
        .group_by("user_id")
        .agg((pl.col("count").sum() / as_of.lookback_days).alias("app_opens_per_day"))
    )


def external_score_features(scores: pl.LazyFrame, as_of: AsOf) -> pl.LazyFrame:
    """The latest external credit score shared, per user."""
    return scores.filter(as_of.until()).group_by("user_id").agg(latest_known("score").alias("external_score"))
