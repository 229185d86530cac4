"""Transfer and red-packet features: direction counts for the one-directional-flow check."""

from __future__ import annotations

import polars as pl

from lendguard.features.window import AsOf


def red_packet_features(transfers: pl.LazyFrame, as_of: AsOf) -> pl.LazyFrame:
    red = transfers.filter(as_of.within() & (pl.col("kind") == "red_packet"))
    return red.group_by("user_id").agg(
        (pl.col("direction") == "in").sum().cast(pl.Int64).alias("red_packets_in"),
        (pl.col("direction") == "out").sum().cast(pl.Int64).alias("red_packets_out"),
    )


def derived_red_packet_features() -> list[pl.Expr]:
    total = pl.col("red_packets_in") + pl.col("red_packets_out")
    return [
        total.alias("red_packets"),
        pl.when(total > 0)
        .then((pl.col("red_packets_in") - pl.col("red_packets_out")).abs() / total)
        .otherwise(0.0)
        .alias("red_packet_imbalance"),
    ]
