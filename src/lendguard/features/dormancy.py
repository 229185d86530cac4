"""'Dormant then suddenly large': a long silence in money movement followed by a large amount."""

from __future__ import annotations

import polars as pl

from lendguard.events.columns import MONEY_DTYPE
from lendguard.features.window import AsOf
from lendguard.policy import Policy


def dormancy_features(payments: pl.LazyFrame, transfers: pl.LazyFrame, as_of: AsOf, policy: Policy) -> pl.LazyFrame:
    rules = policy.visibility.payment_behaviour
    columns = ["user_id", "ts", "amount"]
    moves = pl.concat([payments.select(columns), transfers.select(columns)]).filter(as_of.within())
    window_start = as_of.start()
    previous = pl.col("ts").shift(1).over("user_id", order_by="ts")
    gap_days = (pl.col("ts") - pl.coalesce(previous, pl.lit(window_start))).dt.total_seconds() / 86_400.0
    flagged = (
        (gap_days >= rules.dormant_days)
        & (pl.col("amount") >= pl.lit(rules.large_amount, dtype=MONEY_DTYPE))
        & (pl.col("ts") > as_of.start(rules.recent_days))
    )
    return (
        moves.with_columns(flagged.alias("_flag"))
        .filter(pl.col("_flag"))
        .group_by("user_id")
        .agg(pl.col("ts").max().alias("dormant_large_at"))
        .with_columns(as_of.days_before("dormant_large_at").alias("dormant_large_days_ago"))
    )
