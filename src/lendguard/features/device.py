"""Device security features: the latest report of the current device, risky Wi-Fi share, the score."""

from __future__ import annotations

import polars as pl

from lendguard.features.window import AsOf, latest
from lendguard.policy import Policy

SECURITY_FLAGS = ("rooted", "modified_client", "malware", "unknown_sources")


def device_report_features(reports: pl.LazyFrame, as_of: AsOf) -> tuple[pl.LazyFrame, pl.LazyFrame]:
    """Per user and device: the latest report's flags, plus the user's risky-Wi-Fi counts."""
    upto = reports.filter(as_of.until())
    latest_per_device = upto.group_by("user_id", "device_id").agg(
        pl.col("ts").max().alias("security_report_at"),
        *[latest(flag) for flag in SECURITY_FLAGS],
        latest("failed_minor_checks"),
    )
    wifi = (
        upto.filter(as_of.within())
        .group_by("user_id")
        .agg(
            pl.len().cast(pl.Int64).alias("security_reports"),
            pl.col("risky_wifi").sum().cast(pl.Int64).alias("risky_wifi_reports"),
        )
    )
    return latest_per_device, wifi


def security_deductions(policy: Policy) -> pl.Expr:
    """Points the latest report's findings take off 100 (null without a report)."""
    rules = policy.visibility.device_security
    d = rules.deductions
    risky_wifi_hit = pl.col("risky_wifi_share") > rules.max_risky_wifi_share / 2
    deduction = (
        pl.col("rooted").cast(pl.Int64) * d.rooted
        + pl.col("modified_client").cast(pl.Int64) * d.modified_client
        + pl.col("malware").cast(pl.Int64) * d.malware
        + pl.col("unknown_sources").cast(pl.Int64) * d.unknown_sources
        + risky_wifi_hit.cast(pl.Int64) * d.risky_wifi
        + pl.col("failed_minor_checks") * d.failed_minor_check
    )
    return pl.when(pl.col("security_report_at").is_not_null()).then(deduction).cast(pl.Int64).alias("security_deductions")


def security_score() -> pl.Expr:
    """The 0-100 score: 100 less the deductions, floored at 0."""
    return (100 - pl.col("security_deductions")).clip(0, 100).alias("security_score")


def security_grade(policy: Policy) -> pl.Expr:
    rules = policy.visibility.device_security
    return (
        pl.when(pl.col("security_score") >= rules.grade_a_min)
        .then(pl.lit("A"))
        .when(pl.col("security_score") >= rules.grade_b_min)
        .then(pl.lit("B"))
        .when(pl.col("security_score").is_not_null())
        .then(pl.lit("C"))
        .alias("security_grade")
    )
