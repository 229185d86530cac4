"""Login features: device switching, the current device and client, the three location signals."""

from __future__ import annotations

import math

import polars as pl

from lendguard.features.window import AsOf
from lendguard.policy import Policy


def allowed_switches(as_of: AsOf, policy: Policy) -> int:
    """Most device switches in the window that keep the monthly rate below the limit."""
    limit = policy.visibility.device_security.max_device_switches_per_month * as_of.months
    return max(math.ceil(limit) - 1, 0)


def login_features(logins: pl.LazyFrame, as_of: AsOf, policy: Policy) -> pl.LazyFrame:
    """Device switching, the current device and client, and the three location signals."""
    # One sort by user and time; then "previous login" is a plain shift and "current" is last.
    recent = logins.filter(as_of.within()).sort("user_id", "ts")
    same_user = pl.col("user_id") == pl.col("user_id").shift(1)
    switched = (same_user & (pl.col("device_id") != pl.col("device_id").shift(1))).fill_null(False)
    allowed = allowed_switches(as_of, policy)
    per_user = (
        recent.with_columns(switched.alias("_switch"))
        .group_by("user_id")
        .agg(
            pl.len().cast(pl.Int64).alias("logins"),
            pl.col("_switch").sum().cast(pl.Int64).alias("device_switches"),
            # Time of the switch that must leave the window before the rate is acceptable.
            pl.col("ts").filter(pl.col("_switch")).reverse().slice(allowed, 1).first().alias("blocking_switch_at"),
            pl.col("device_id").last().alias("primary_device"),
            pl.col("device_model").last(),
            pl.col("os").last(),
            pl.col("client_version").last(),
            pl.col("phone_province").drop_nulls().last(),
        )
    )
    lbs_counts = _counts(recent, "lbs_province")
    ip_counts = _counts(recent, "ip_province")
    located = (
        per_user.join(_mode(lbs_counts, "lbs_province"), on="user_id", how="left")
        .join(_mode(ip_counts, "ip_province"), on="user_id", how="left")
        .join(_mode(_counts(recent, "lbs_city"), "city").drop("city_logins"), on="user_id", how="left")
    )
    # Logins already in the province the location advice points to (for its size).
    return (
        located.join(lbs_counts.rename({"_p": "phone_province", "_n": "lbs_logins_in_phone_province"}), on=["user_id", "phone_province"], how="left")
        .join(ip_counts.rename({"_p": "phone_province", "_n": "ip_logins_in_phone_province"}), on=["user_id", "phone_province"], how="left")
        .join(lbs_counts.rename({"_p": "ip_province", "_n": "lbs_logins_in_ip_province"}), on=["user_id", "ip_province"], how="left")
    )


def _counts(frame: pl.LazyFrame, column: str) -> pl.LazyFrame:
    """Logins per user and value of `column` (null values left out)."""
    return (
        frame.filter(pl.col(column).is_not_null())
        .group_by("user_id", column)
        .agg(pl.len().cast(pl.Int64).alias("_n"))
        .rename({column: "_p"})
    )


def _mode(counts: pl.LazyFrame, alias: str) -> pl.LazyFrame:
    """Most frequent value per user (ties broken by name) and its count, from `_counts`."""
    return (
        counts.sort(["user_id", "_n", "_p"], descending=[False, True, False])
        .unique(subset="user_id", keep="first", maintain_order=True)
        .select("user_id", pl.col("_p").alias(alias), pl.col("_n").alias(f"{alias}_logins"))
    )


def client_version_number(column: str = "client_version") -> pl.Expr:
    """'8.0.40' -> 8_000_040, so client versions compare as numbers (null if malformed)."""
    parts = pl.col(column).str.split(".")
    return (
        parts.list.get(0, null_on_oob=True).cast(pl.Int64, strict=False) * 1_000_000
        + parts.list.get(1, null_on_oob=True).cast(pl.Int64, strict=False) * 1_000
        + parts.list.get(2, null_on_oob=True).cast(pl.Int64, strict=False)
    ).alias("client_version_number")
