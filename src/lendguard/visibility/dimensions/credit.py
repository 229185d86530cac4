"""Dimension 1, credit score (whitelist by score model): activity, wealth, history, contacts."""

from __future__ import annotations

import polars as pl

from lendguard.events.columns import MONEY_DTYPE
from lendguard.visibility import credit_score as cs
from lendguard.visibility.check import Advice, Check, ceil_int, graded

DIMENSION = "credit"


def _payments_status(policy, as_of):
    return graded(pl.col("payments_per_month") < policy.visibility.credit.min_payments_per_month)


def _payments_advice(policy, as_of):
    needed = policy.visibility.credit.min_payments_per_month * as_of.months - pl.col("payments")
    per_month = ceil_int(needed / as_of.months)
    return Advice(
        variant=pl.when(pl.col("payments_per_month") < policy.visibility.credit.min_payments_per_month).then(pl.lit("add_payments")),
        params={"per_month": per_month},
    )


def _wealth_status(policy, as_of):
    held = pl.col("wealth_holding_days").fill_null(-1)
    return graded(held < policy.visibility.credit.min_wealth_holding_days)


def _wealth_advice(policy, as_of):
    rules = policy.visibility.credit
    minimum = pl.lit(rules.min_wealth_balance, dtype=MONEY_DTYPE)
    failing = pl.col("wealth_holding_days").fill_null(-1) < rules.min_wealth_holding_days
    qualifying = pl.col("wealth_holding_days").is_not_null()
    variant = pl.when(failing & qualifying).then(pl.lit("hold_longer")).when(failing).then(pl.lit("deposit_and_hold"))
    deposit = pl.when(failing & ~qualifying).then((minimum - pl.col("largest_holding")).cast(MONEY_DTYPE))
    hold_days = (
        pl.when(failing & qualifying)
        .then(rules.min_wealth_holding_days - pl.col("wealth_holding_days"))
        .when(failing)
        .then(pl.lit(rules.min_wealth_holding_days))
        .cast(pl.Int64)
    )
    return Advice(variant=variant, params={"deposit": deposit, "hold_days": hold_days})


def _history_status(policy, as_of):
    years = pl.col("credit_history_years")
    return graded(years < policy.visibility.credit.min_credit_history_years, unknown=years.is_null())


def _history_advice(policy, as_of):
    minimum = policy.visibility.credit.min_credit_history_years
    years = pl.col("credit_history_years")
    wait_days = ceil_int((minimum - years) * 365.25)
    return Advice(
        variant=pl.when(years.is_null()).then(pl.lit("share_bureau")).when(years < minimum).then(pl.lit("wait")),
        params={"days": pl.when(years < minimum).then(wait_days)},
    )


def _contacts_status(policy, as_of):
    return graded(pl.col("high_risk_contact_share") > policy.visibility.credit.max_high_risk_contact_share)


def _contacts_advice(policy, as_of):
    limit = policy.visibility.credit.max_high_risk_contact_share
    failing = pl.col("high_risk_contact_share") > limit
    # (h - k) / (n - k) <= limit  <=>  k >= (h - limit * n) / (1 - limit)
    remove = ceil_int((pl.col("high_risk_contacts") - limit * pl.col("contacts")) / (1 - limit))
    return Advice(variant=pl.when(failing).then(pl.lit("remove_contacts")), params={"count": pl.when(failing).then(remove)})


def _score_status(policy, as_of):
    score = pl.col(cs.SCORE)
    return graded(score < policy.visibility.credit.min_score, unknown=score.is_null())


def _score_advice(policy, as_of):
    failing = pl.col(cs.SCORE) < policy.visibility.credit.min_score
    variant = (
        pl.when(failing & pl.col(cs.FIX_FEATURE).is_not_null())
        .then(pl.lit("raise_feature"))
        .when(failing & pl.col(cs.FIX_COUNT).is_not_null())
        .then(pl.lit("raise_several"))
        .when(failing)
        .then(pl.lit("out_of_reach"))
    )
    params = {name: pl.col(column) for name, column in (
        ("shortfall", cs.SHORTFALL), ("feature", cs.FIX_FEATURE), ("band", cs.FIX_BAND),
        ("points", cs.FIX_POINTS), ("features", cs.FIX_FEATURES), ("count", cs.FIX_COUNT),
    )}
    return Advice(variant=variant, params=params, not_fixable=frozenset({"out_of_reach"}))


CHECKS = (
    Check(
        code="CR01",
        dimension=DIMENSION,
        name="payment_activity",
        measured=("payments_per_month", "payments"),
        thresholds=lambda p: {"min_payments_per_month": p.visibility.credit.min_payments_per_month},
        status=_payments_status,
        advice=_payments_advice,
    ),
    Check(
        code="CR02",
        dimension=DIMENSION,
        name="wealth_holding",
        measured=("wealth_holding_days", "wealth_balance", "largest_holding"),
        thresholds=lambda p: {
            "min_wealth_holding_days": p.visibility.credit.min_wealth_holding_days,
            "min_wealth_balance": p.visibility.credit.min_wealth_balance,
        },
        status=_wealth_status,
        advice=_wealth_advice,
    ),
    Check(
        code="CR03",
        dimension=DIMENSION,
        name="credit_history",
        measured=("credit_history_years",),
        thresholds=lambda p: {"min_credit_history_years": p.visibility.credit.min_credit_history_years},
        status=_history_status,
        advice=_history_advice,
    ),
    Check(
        code="CR04",
        dimension=DIMENSION,
        name="high_risk_contacts",
        measured=("high_risk_contact_share", "high_risk_contacts", "contacts"),
        thresholds=lambda p: {"max_high_risk_contact_share": p.visibility.credit.max_high_risk_contact_share},
        status=_contacts_status,
        advice=_contacts_advice,
    ),
    Check(
        code=cs.SCORE_CHECK,
        dimension=DIMENSION,
        name="credit_score",
        measured=(cs.SCORE, cs.CODES),
        thresholds=lambda p: {"min_score": p.visibility.credit.min_score},
        status=_score_status,
        advice=_score_advice,
        context=(cs.REASONS_ZH, cs.REASONS_EN),
    ),
)
