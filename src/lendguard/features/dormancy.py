"""'Dormant then suddenly large': a long silence in money movement followed by a large amount."""

from __future__ import annotations

import polars as pl

from lendguard.events.columns import MONEY_DTYPE
from lendguard.features.window import AsOf
from lendguard.policy import Policy


def dormancy_features(payments: pl.LazyFrame, transfers: pl.LazyFrame, as_of: AsOf, policy: Policy) -> pl.LazyFrame:
    """Users with a recent large money movement that followed at least `dormant_days`
    without any movement (the window's start counts as the last movement when none).

    Only the few recent large movements are candidates; each is matched against the same
    user's earlier movements, so no sort over every payment is needed.
    """
    rules = policy.visibility.payment_behaviour
    columns = ["user_id", "ts", "amount"]
    moves = pl.concat([payments.select(columns), transfers.select(columns)]).filter(as_of.within())
    large = pl.col("amount") >= pl.lit(rules.large_amount, dtype=MONEY_DTYPE)
    candidates = moves.filter(large & (pl.col("ts") > as_of.start(rules.recent_days))).select(
        "user_id", pl.col("ts").alias("large_at")
    )
    previous = (
        candidates.join(moves.select("user_id", "ts"), on="user_id", how="inner")
        .filter(pl.col("ts") < pl.col("large_at"))
        .group_by("user_id", "large_at")
        .agg(pl.col("ts").max().alias("previous_at"))
    )
    gap_days = (pl.col("large_at") - pl.coalesce("previous_at", pl.lit(as_of.start()))).dt.total_seconds() / 86_400.0
    return (
        candidates.unique()
        .join(previous, on=["user_id", "large_at"], how="left")
        .filter(gap_days >= rules.dormant_days)
        .group_by("user_id")
        .agg(pl.col("large_at").max().alias("dormant_large_at"))
        .with_columns(as_of.days_before("dormant_large_at").alias("dormant_large_days_ago"))
    )
