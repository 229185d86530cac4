"""Which grants are in force at a moment: the latest grant or withdrawal per user, scope, purpose.

Consents are events (type `consent`), so the consent history is append-only and a
withdrawal takes effect from its own time, whatever was granted before.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from lendguard.events.columns import empty_frame

ACTIVE_GRANTS_SCHEMA = pl.Schema({"user_id": pl.String, "scope": pl.String, "purpose": pl.String, "granted_at": pl.Datetime("us", "UTC")})


def latest_actions(consents: pl.LazyFrame | pl.DataFrame | None, at: dt.datetime) -> pl.LazyFrame:
    """(user_id, scope, purpose, withdrawn, ts): the last action per user, scope and purpose by `at`.

    The order key is the time in microseconds, doubled, plus one for a withdrawal, so a
    single max finds the latest action and, at equal times, the withdrawal wins (the
    user's refusal is the safer reading). A max is far cheaper than sorting the history.
    """
    frame = empty_frame("consent").lazy() if consents is None else consents.lazy()
    order = pl.col("ts").dt.epoch("us") * 2 + (pl.col("action") == "withdraw").cast(pl.Int64)
    latest = (
        frame.filter(pl.col("ts") <= at)
        .select("user_id", "scope", pl.col("purposes").alias("purpose"), order.alias("_key"))
        .explode("purpose")
        .group_by("user_id", "scope", "purpose")
        .agg(pl.col("_key").max())
    )
    return latest.select(
        "user_id",
        pl.col("scope").cast(pl.String),
        "purpose",
        (pl.col("_key") % 2 == 1).alias("withdrawn"),
        pl.from_epoch(pl.col("_key") // 2, time_unit="us").dt.replace_time_zone("UTC").alias("ts"),
    )


def active_grants(consents: pl.LazyFrame | pl.DataFrame | None, at: dt.datetime) -> pl.LazyFrame:
    """(user_id, scope, purpose, granted_at) for every grant not withdrawn by `at`."""
    latest = latest_actions(consents, at).filter(~pl.col("withdrawn"))
    return latest.rename({"ts": "granted_at"}).select(ACTIVE_GRANTS_SCHEMA.names()).cast(ACTIVE_GRANTS_SCHEMA)


def withdrawals(consents: pl.LazyFrame | pl.DataFrame | None, at: dt.datetime) -> pl.LazyFrame:
    """(user_id, scope, withdrawn_at) where every purpose of a scope is withdrawn by `at`:
    the scope's data is then unused and its deletion is due after the policy's period."""
    return (
        latest_actions(consents, at)
        .group_by("user_id", "scope")
        .agg(pl.col("withdrawn").all().alias("all_withdrawn"), pl.col("ts").max().alias("withdrawn_at"))
        .filter(pl.col("all_withdrawn"))
        .select("user_id", "scope", "withdrawn_at")
    )
