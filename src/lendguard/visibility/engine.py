"""Evaluate every check over a feature frame: one row of statuses and advice numbers per user."""

from __future__ import annotations

import polars as pl

from lendguard.features.window import AsOf
from lendguard.policy import Policy
from lendguard.visibility.check import (
    CONSENT_NEEDED,
    DIMENSIONS,
    FAIL,
    NOT_ASSESSABLE,
    PASS,
    WARN,
    Check,
)
from lendguard.visibility.data_use import CHECK_USES
from lendguard.visibility.dimensions import active_checks


def check_columns(check: Check, policy: Policy, as_of: AsOf) -> list[pl.Expr]:
    advice = check.advice(policy, as_of)
    status = check.status(policy, as_of)
    variant = advice.variant
    uses = CHECK_USES[check.code]
    if uses:
        # Without the consented data the check cannot be assessed: absence is not risk.
        consented = pl.all_horizontal([pl.col(use.key) for use in uses])
        status = pl.when(consented).then(status).otherwise(pl.lit(NOT_ASSESSABLE))
        variant = pl.when(consented).then(variant).otherwise(pl.lit(CONSENT_NEEDED))
    if check.code in policy.reviews.bounds.overridable_checks:
        # A human review cleared the check for this user, within the policy's bounds.
        cleared = pl.col(override_column(check.code)).is_not_null()
        status = pl.when(cleared).then(pl.lit(PASS)).otherwise(status)
    passing = status == PASS
    # Advice only where the check does not pass (warnings get advice too).
    columns = [
        status.alias(check.code),
        pl.when(~passing).then(variant).alias(check.advice_column()),
    ]
    columns += [pl.when(~passing).then(expr).alias(check.advice_column(name)) for name, expr in advice.params.items()]
    return columns


def override_column(code: str) -> str:
    """The review that cleared a check for a user (null when none did)."""
    return f"{code}__override"


def override_columns(overrides: pl.DataFrame | None, policy: Policy) -> pl.DataFrame:
    """user_id plus one column per overridable check: "review_id:reason_code" where cleared."""
    codes = list(policy.reviews.bounds.overridable_checks)
    schema = {"user_id": pl.String, **{override_column(c): pl.String for c in codes}}
    if overrides is None or overrides.height == 0:
        return pl.DataFrame(schema=schema)
    cleared = overrides.filter(pl.col("check_code").is_in(codes)).with_columns(
        (pl.col("review_id") + ":" + pl.col("reason_code").fill_null("")).alias("cleared_by")
    )
    wide = cleared.pivot(on="check_code", index="user_id", values="cleared_by", aggregate_function="last")
    wide = wide.rename({c: override_column(c) for c in codes if c in wide.columns})
    return wide.with_columns(pl.lit(None, dtype=pl.String).alias(n) for n in schema if n not in wide.columns).select(list(schema)).cast(schema)


def dimension_status(codes: list[str]) -> pl.Expr:
    statuses = [pl.col(c) for c in codes]
    any_of = lambda value: pl.any_horizontal([s == value for s in statuses])  # noqa: E731
    return (
        pl.when(any_of(FAIL))
        .then(pl.lit(FAIL))
        .when(any_of(NOT_ASSESSABLE))
        .then(pl.lit(NOT_ASSESSABLE))
        .when(any_of(WARN))
        .then(pl.lit(WARN))
        .otherwise(pl.lit(PASS))
    )


def evaluate_features(features: pl.DataFrame, policy: Policy, as_of: AsOf) -> pl.DataFrame:
    """Decisions for every user in `features`: check statuses, advice, dimensions, visibility."""
    checks = active_checks(policy)
    by_dimension: dict[str, list[str]] = {d: [] for d in DIMENSIONS}
    check_exprs: list[pl.Expr] = []
    for check in checks:
        by_dimension[check.dimension].append(check.code)
        check_exprs += check_columns(check, policy, as_of)
    dimension_exprs = [dimension_status(codes).alias(f"dim_{d}") for d, codes in by_dimension.items()]
    blocked = [pl.col(f"dim_{d}").is_in([FAIL, NOT_ASSESSABLE]) for d in DIMENSIONS]
    reason_codes = _names_where([(c.code, pl.col(c.code).is_in([FAIL, NOT_ASSESSABLE])) for c in checks])
    failed_dimensions = _names_where(list(zip(DIMENSIONS, blocked, strict=True)))
    return (
        features.lazy()
        .with_columns(check_exprs)
        .with_columns(dimension_exprs)
        .with_columns(
            (~pl.any_horizontal(blocked)).alias("visible"),
            reason_codes.alias("reason_codes"),
            failed_dimensions.alias("failed_dimensions"),
        )
        .collect()
    )


def _names_where(named: list[tuple[str, pl.Expr]]) -> pl.Expr:
    """The list of names whose condition holds, in order (built as text, then split: much
    faster than concatenating per-row lists)."""
    joined = pl.concat_str([pl.when(cond).then(pl.lit(name + ",")) for name, cond in named], ignore_nulls=True)
    return (
        pl.when(joined == "")
        .then(pl.lit([], dtype=pl.List(pl.String)))
        .otherwise(joined.str.strip_chars_end(",").str.split(","))
    )


def decision_columns(policy: Policy) -> list[str]:
    """Columns of a population's decision table (everything but the raw features)."""
    columns = ["user_id", "visible", "failed_dimensions", "reason_codes"]
    columns += [f"dim_{d}" for d in DIMENSIONS]
    for check in active_checks(policy):
        columns.append(check.code)
    return columns
