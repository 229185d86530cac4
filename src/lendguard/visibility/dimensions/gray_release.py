"""Dimension 7, gray release: client version band, rollout bucket, time wave and user-tier batch."""

from __future__ import annotations

import datetime as dt

import polars as pl

from lendguard.policy.model import version_key
from lendguard.visibility.check import Advice, Check, graded

DIMENSION = "gray_release"


def version_number() -> pl.Expr:
    """The client version as a number (computed once with the features)."""
    return pl.col("client_version_number")


def _key_number(version: str) -> int:
    major, minor, patch = version_key(version)
    return major * 1_000_000 + minor * 1_000 + patch


def _wave_extra(policy, as_of) -> float:
    today: dt.date = as_of.local_date
    extra = 0.0
    for wave in policy.visibility.gray_release.waves:
        if wave.starts <= today:
            extra = wave.extra_percent
    return extra


def band_columns(policy, as_of) -> dict[str, pl.Expr]:
    """The user's band: its minimum version, feature level and rollout share (with the wave)."""
    bands = policy.visibility.gray_release.bands
    number = version_number()
    extra = _wave_extra(policy, as_of)
    level = pl.lit(None, dtype=pl.String)
    rollout = pl.lit(None, dtype=pl.Float64)
    for band in reversed(bands):  # lowest first, so the highest matching band wins
        hit = number >= _key_number(band.min_version)
        level = pl.when(hit).then(pl.lit(band.features)).otherwise(level)
        rollout = pl.when(hit).then(pl.lit(min(100.0, band.rollout_percent + extra))).otherwise(rollout)
    return {"features": level, "rollout_percent": rollout}


def _batch_open_date(policy) -> pl.Expr:
    """The opening date of the user's tier batch, from the batch bucket."""
    expr = pl.lit(None, dtype=pl.Date)
    upper = 0.0
    cases = []
    for batch in policy.visibility.gray_release.batches:
        lower, upper = upper, upper + batch.share_percent
        cases.append((lower, upper, batch.opens))
    for lower, upper_bound, opens in reversed(cases):
        expr = pl.when((pl.col("gray_batch_bucket") >= lower) & (pl.col("gray_batch_bucket") < upper_bound)).then(pl.lit(opens)).otherwise(expr)
    return expr


def _version_status(policy, as_of):
    minimum = _key_number(policy.visibility.gray_release.bands[-1].min_version)
    number = version_number()
    return graded(number < minimum, unknown=number.is_null())


def _version_advice(policy, as_of):
    bands = policy.visibility.gray_release.bands
    minimum = _key_number(bands[-1].min_version)
    number = version_number()
    return Advice(
        variant=pl.when(number.is_null()).then(pl.lit("open_app")).when(number < minimum).then(pl.lit("update_client")),
        params={"version": pl.when(number.is_null() | (number < minimum)).then(pl.lit(bands[0].min_version))},
    )


def _in_rollout(policy, as_of) -> pl.Expr:
    band = band_columns(policy, as_of)
    batch_open = _batch_open_date(policy) <= pl.lit(as_of.local_date)
    return (pl.col("gray_bucket") < band["rollout_percent"]) & batch_open


def _rollout_status(policy, as_of):
    band = band_columns(policy, as_of)
    # Below the lowest band the version check already fails; this check only speaks inside a band.
    return graded(band["rollout_percent"].is_not_null() & ~_in_rollout(policy, as_of))


def _rollout_advice(policy, as_of):
    bands = policy.visibility.gray_release.bands
    band = band_columns(policy, as_of)
    failing = band["rollout_percent"].is_not_null() & ~_in_rollout(policy, as_of)
    batch_open = _batch_open_date(policy)
    batch_waiting = batch_open > pl.lit(as_of.local_date)
    extra = _wave_extra(policy, as_of)
    top_covers = pl.col("gray_bucket") < min(100.0, bands[0].rollout_percent + extra)
    below_top = version_number() < _key_number(bands[0].min_version)
    return Advice(
        variant=pl.when(failing & batch_waiting)
        .then(pl.lit("wait_batch"))
        .when(failing & below_top & top_covers)
        .then(pl.lit("update_client"))
        .when(failing)
        .then(pl.lit("wait_rollout")),
        params={
            "version": pl.when(failing).then(pl.lit(bands[0].min_version)),
            "days": pl.when(failing & batch_waiting).then((batch_open - pl.lit(as_of.local_date)).dt.total_days()),
        },
        not_fixable=frozenset({"wait_rollout"}),
    )


CHECKS = (
    Check(
        code="GR01",
        dimension=DIMENSION,
        name="client_version",
        measured=("client_version",),
        thresholds=lambda p: {"min_version": p.visibility.gray_release.bands[-1].min_version},
        status=_version_status,
        advice=_version_advice,
    ),
    Check(
        code="GR02",
        dimension=DIMENSION,
        name="rollout",
        measured=("client_version", "gray_bucket", "gray_batch_bucket"),
        thresholds=lambda p: {"bands": [b.model_dump() for b in p.visibility.gray_release.bands]},
        status=_rollout_status,
        advice=_rollout_advice,
    ),
)
