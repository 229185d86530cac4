"""Partner-institution data: which categories the user shares, and the bureau report's contents."""

from __future__ import annotations

import polars as pl

from lendguard.features.window import AsOf
from lendguard.policy import Policy


def partner_features(reports: pl.LazyFrame, as_of: AsOf, policy: Policy) -> pl.LazyFrame:
    categories = policy.visibility.partner_data.categories
    # The latest report per institution and category.
    newest = (
        reports.filter(as_of.until() & pl.col("category").is_in(categories))
        .select("user_id", "institution", "category", "ts", "shared", "queries_12m", "credit_accounts", "oldest_account_opened")
        .sort("ts")
        .unique(subset=["user_id", "institution", "category"], keep="last")
    )
    bureau = pl.col("category") == "bureau"
    shared_bureau = bureau & pl.col("shared")
    # Sorted by time so that `.last()` below is the latest report across institutions.
    return newest.sort("ts").group_by("user_id").agg(
        pl.col("category").filter(pl.col("shared")).unique().sort().alias("shared_categories"),
        shared_bureau.any().alias("bureau_shared"),
        (bureau & ~pl.col("shared")).any().alias("bureau_refused"),
        pl.col("queries_12m").filter(shared_bureau).last().alias("bureau_queries_12m"),
        pl.col("credit_accounts").filter(shared_bureau).last().alias("bureau_credit_accounts"),
        pl.col("oldest_account_opened").filter(shared_bureau).min().alias("oldest_account_opened"),
    )


def derived_partner_features(as_of: AsOf, policy: Policy) -> list[pl.Expr]:
    n = len(policy.visibility.partner_data.categories)
    shared = pl.col("shared_categories").list.len().fill_null(0)
    years = (pl.lit(as_of.local_date) - pl.col("oldest_account_opened")).dt.total_days() / 365.25
    return [
        shared.cast(pl.Int64).alias("shared_category_count"),
        pl.when(shared >= n).then(pl.lit("full")).when(shared > 0).then(pl.lit("partial")).otherwise(pl.lit("none")).alias("sharing_level"),
        years.alias("credit_history_years"),
    ]
