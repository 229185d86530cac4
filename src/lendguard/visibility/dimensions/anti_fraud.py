"""Dimension 8, real-time anti-fraud: the user's current risk level from the fraud engine's store.

Until the fraud engine writes a state for a user, the level is R0 (no signal): this
check never invents one.
"""

from __future__ import annotations

import polars as pl

from lendguard.visibility.check import Advice, Check, ceil_int, graded

DIMENSION = "anti_fraud"


def _hidden(policy, as_of) -> pl.Expr:
    level = pl.col("risk_level")
    active = level.is_in(policy.visibility.anti_fraud.hiding_levels)
    # An R1 whose recovery time has passed no longer hides the entry.
    recovered = (level == "R1") & pl.col("risk_recovers_at").is_not_null() & (pl.col("risk_recovers_at") <= pl.lit(as_of.at))
    return active & ~recovered


def _status(policy, as_of):
    return graded(_hidden(policy, as_of))


def _advice(policy, as_of):
    level = pl.col("risk_level")
    hidden = _hidden(policy, as_of)
    days = ceil_int((pl.col("risk_recovers_at") - pl.lit(as_of.at)).dt.total_seconds() / 86_400.0).clip(lower_bound=1)
    return Advice(
        variant=pl.when(hidden & (level == "R1"))
        .then(pl.lit("wait_recovery"))
        .when(hidden & (level == "R2"))
        .then(pl.lit("second_verification"))
        .when(hidden & (level == "R3"))
        .then(pl.lit("closed_permanently")),
        params={"days": pl.when(hidden & (level == "R1")).then(days)},
        not_fixable=frozenset({"closed_permanently"}),
    )


CHECKS = (
    Check(
        code="AF01",
        dimension=DIMENSION,
        name="risk_level",
        measured=("risk_level", "risk_since", "risk_recovers_at"),
        thresholds=lambda p: {"hiding_levels": list(p.visibility.anti_fraud.hiding_levels), "r1_recovery_days": p.visibility.anti_fraud.r1_recovery_days},
        status=_status,
        advice=_advice,
    ),
)
