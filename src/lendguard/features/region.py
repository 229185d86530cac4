"""Region features: the triple location check and the city's tier."""

from __future__ import annotations

import polars as pl

from lendguard.policy import Policy

SIGNALS = ("lbs_province", "phone_province", "ip_province")


def derived_region_features() -> list[pl.Expr]:
    """Agreement among LBS, phone-number home region and usual login IP, and the agreed province."""

    def votes(candidate: str) -> pl.Expr:
        return pl.sum_horizontal(
            [(pl.col(s) == pl.col(candidate)).fill_null(False).cast(pl.Int64) for s in SIGNALS]
        )

    counts = {s: votes(s) for s in SIGNALS}
    best = pl.max_horizontal(list(counts.values()))
    province = pl.when(counts["lbs_province"] == best).then(pl.col("lbs_province"))
    province = province.when(counts["phone_province"] == best).then(pl.col("phone_province"))
    province = province.otherwise(pl.col("ip_province"))
    return [
        best.alias("location_agreement"),
        pl.sum_horizontal([pl.col(s).is_not_null().cast(pl.Int64) for s in SIGNALS]).alias("location_signals"),
        province.alias("province"),
    ]


def geography_frame(policy: Policy) -> pl.LazyFrame:
    return policy.geography.lazy().select(pl.col("city"), pl.col("tier").alias("region_tier"))
