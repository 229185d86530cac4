"""Offers for a whole population, vectorised: who each product admits, their lines, rates
and APRs (the default drawdown priced with `bulk.py` schedules and `bulk_aprs`)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

from lendguard.loans.admission import admission_frame, checks_of
from lendguard.loans.apr import bulk_aprs
from lendguard.loans.bulk import bulk_schedules
from lendguard.loans.money import MoneyRules
from lendguard.loans.offers import refusing_caps
from lendguard.loans.schedule import add_months
from lendguard.policy import Policy


def population_offers(decisions: pl.DataFrame, policy: Policy, today: dt.date) -> pl.DataFrame:
    """One row per (user, product): admitted, first failing reason, line, daily rate, APR."""
    loans = policy.loans
    money = MoneyRules.of(loans)
    frame = admission_frame(decisions, policy)
    parts = []
    for product_id, product in loans.products.items():
        codes = [c.code for c in checks_of(product)]
        line_units = pl.col(f"{product_id}__line_units")
        line_minor = line_units * int(product.line_step / loans.minor_unit)
        first_failure = pl.coalesce([pl.when(~pl.col(f"{product_id}__{c}")).then(pl.lit(c)) for c in codes] + [
            pl.when(line_minor < int(product.min_line / loans.minor_unit)).then(pl.lit("LN07"))
        ])
        part = frame.select(
            "user_id",
            pl.lit(product_id).alias("product_id"),
            first_failure.alias("reason"),
            line_minor.alias("line_minor"),
            pl.col(f"{product_id}__rate_units").alias("rate_units"),
        )
        priced_minor = part["line_minor"].to_numpy().clip(int(product.min_line / loans.minor_unit))
        months = product.default_term_months
        days = (add_months(today, months) - today).days
        schedules = bulk_schedules(
            priced_minor, part["rate_units"].to_numpy(), product.rate_step, months, product.default_method, money,
            loans.days_per_month, days, product.service_fee_monthly,
        )
        periods = loans.days_per_year / days if product.default_method == "daily_interest" else 12.0
        aprs = bulk_aprs(schedules.cash_flows(loans.minor_unit), np.full(len(priced_minor), periods)) if len(priced_minor) else np.array([])
        part = part.with_columns(
            pl.Series("apr", aprs, dtype=pl.Float64),
            (pl.col("rate_units").cast(pl.Float64) * float(product.rate_step)).alias("daily_rate"),
        ).with_columns(
            pl.coalesce(
                pl.col("reason"), *[pl.when(pl.col("apr") > float(cap)).then(pl.lit(code)) for code, cap in refusing_caps(loans)]
            ).alias("reason"),
        ).with_columns(pl.col("reason").is_null().alias("admitted"))
        parts.append(part)
    return pl.concat(parts)


def offer_summary(offers: pl.DataFrame) -> pl.DataFrame:
    """Per product: users, admitted share, median line, median daily rate and APR, top refusal."""
    admitted = pl.col("admitted")
    return (
        offers.group_by("product_id", maintain_order=True)
        .agg(
            pl.len().alias("users"),
            admitted.sum().alias("admitted"),
            admitted.mean().alias("admitted_share"),
            (pl.col("line_minor").filter(admitted).median() / 100).alias("median_line"),
            pl.col("daily_rate").filter(admitted).median().alias("median_daily_rate"),
            pl.col("apr").filter(admitted).median().alias("median_apr"),
            pl.col("apr").filter(admitted).max().alias("max_apr"),
            pl.col("reason").drop_nulls().mode().first().alias("top_reason"),
        )
    )
