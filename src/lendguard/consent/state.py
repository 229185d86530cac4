"""Which grants are in force at a moment: the latest grant or withdrawal per user, scope, purpose.

Consents are events (type `consent`), so the consent history is append-only and a
withdrawal takes effect from its own time, whatever was granted before.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from lendguard.events.columns import empty_frame

ACTIVE_GRANTS_SCHEMA = pl.Schema({"user_id": pl.String, "scope": pl.String, "purpose": pl.String, "granted_at": pl.Datetime("us", "UTC")})


def consent_actions(consents: pl.LazyFrame | pl.DataFrame | None, at: dt.datetime) -> pl.LazyFrame:
    """One row per (consent event, purpose) up to `at`: user_id, scope, purpose, action, ts."""
    frame = empty_frame("consent").lazy() if consents is None else consents.lazy()
    return (
        frame.filter(pl.col("ts") <= at)
        .select("user_id", pl.col("scope").cast(pl.String), pl.col("action").cast(pl.String), "ts", "purposes")
        .explode("purposes")
        .rename({"purposes": "purpose"})
    )


def active_grants(consents: pl.LazyFrame | pl.DataFrame | None, at: dt.datetime) -> pl.LazyFrame:
    """(user_id, scope, purpose, granted_at) for every grant not withdrawn by `at`.

    At equal times a withdrawal wins: the user's refusal is the safer reading.
    """
    actions = consent_actions(consents, at).with_columns((pl.col("action") == "withdraw").alias("_withdraw"))
    latest = (
        actions.sort("ts", "_withdraw")
        .group_by("user_id", "scope", "purpose")
        .agg(pl.col("action").last(), pl.col("ts").last().alias("granted_at"))
    )
    return latest.filter(pl.col("action") == "grant").select(ACTIVE_GRANTS_SCHEMA.names()).cast(ACTIVE_GRANTS_SCHEMA)


def withdrawals(consents: pl.LazyFrame | pl.DataFrame | None, at: dt.datetime) -> pl.LazyFrame:
    """(user_id, scope, withdrawn_at) where every purpose of a scope is withdrawn by `at`:
    the scope's data is then unused and its deletion is due after the policy's period."""
    actions = consent_actions(consents, at).with_columns((pl.col("action") == "withdraw").alias("_withdraw"))
    latest = actions.sort("ts", "_withdraw").group_by("user_id", "scope", "purpose").agg(pl.col("action").last(), pl.col("ts").last())
    return (
        latest.group_by("user_id", "scope")
        .agg((pl.col("action") == "withdraw").all().alias("all_withdrawn"), pl.col("ts").max().alias("withdrawn_at"))
        .filter(pl.col("all_withdrawn"))
        .select("user_id", "scope", "withdrawn_at")
    )
