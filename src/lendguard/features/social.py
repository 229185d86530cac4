"""Social-graph features: current contacts and the share of them flagged high-risk."""

from __future__ import annotations

import polars as pl

from lendguard.features.window import AsOf, latest


def social_features(contacts: pl.LazyFrame, as_of: AsOf) -> pl.LazyFrame:
    current = (
        contacts.filter(as_of.until())
        .group_by("user_id", "contact_id")
        .agg(latest("action"), latest("high_risk"))
        .filter(pl.col("action") == "add")
    )
    return current.group_by("user_id").agg(
        pl.len().cast(pl.Int64).alias("contacts"),
        pl.col("high_risk").sum().cast(pl.Int64).alias("high_risk_contacts"),
    )


def derived_social_features() -> list[pl.Expr]:
    return [
        pl.when(pl.col("contacts") > 0)
        .then(pl.col("high_risk_contacts") / pl.col("contacts"))
        .otherwise(0.0)
        .alias("high_risk_contact_share")
    ]
