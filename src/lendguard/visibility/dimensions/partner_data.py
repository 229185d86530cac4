"""Dimension 5, partner data: bureau report consent, sharing level, bureau query count."""

from __future__ import annotations

import polars as pl

from lendguard.policy.model import SHARING_ORDER
from lendguard.visibility.check import Advice, Check, graded

DIMENSION = "partner_data"


def _refused(policy):
    return (pl.col("bureau_refused") & ~pl.col("bureau_shared")) if policy.visibility.partner_data.bureau_refusal_blocks else pl.lit(False)


def _bureau_status(policy, as_of):
    # A refusal is "not assessable", never a risk signal by itself (SPEC §4).
    return graded(pl.lit(False), unknown=_refused(policy))


def _bureau_advice(policy, as_of):
    return Advice(variant=pl.when(_refused(policy)).then(pl.lit("share_bureau")))


def _level_rank() -> pl.Expr:
    return pl.col("sharing_level").replace_strict(SHARING_ORDER, return_dtype=pl.Int64)


def _sharing_status(policy, as_of):
    return graded(_level_rank() < SHARING_ORDER[policy.visibility.partner_data.min_sharing_level])


def _sharing_advice(policy, as_of):
    rules = policy.visibility.partner_data
    failing = _level_rank() < SHARING_ORDER[rules.min_sharing_level]
    needed = len(rules.categories) if rules.min_sharing_level == "full" else 1
    return Advice(
        variant=pl.when(failing).then(pl.lit("share_categories")),
        params={"count": pl.when(failing).then(needed - pl.col("shared_category_count"))},
    )


def _queries_status(policy, as_of):
    return graded(pl.col("bureau_queries_12m").fill_null(0) > policy.visibility.partner_data.max_bureau_queries_per_year)


def _queries_advice(policy, as_of):
    limit = policy.visibility.partner_data.max_bureau_queries_per_year
    excess = pl.col("bureau_queries_12m").fill_null(0) - limit
    return Advice(variant=pl.when(excess > 0).then(pl.lit("fewer_applications")), params={"excess": pl.when(excess > 0).then(excess)})


CHECKS = (
    Check(
        code="PD01",
        dimension=DIMENSION,
        name="bureau_consent",
        measured=("bureau_shared", "bureau_refused"),
        thresholds=lambda p: {"bureau_refusal_blocks": p.visibility.partner_data.bureau_refusal_blocks},
        status=_bureau_status,
        advice=_bureau_advice,
    ),
    Check(
        code="PD02",
        dimension=DIMENSION,
        name="sharing_level",
        measured=("sharing_level", "shared_category_count", "shared_categories"),
        thresholds=lambda p: {
            "min_sharing_level": p.visibility.partner_data.min_sharing_level,
            "categories": list(p.visibility.partner_data.categories),
        },
        status=_sharing_status,
        advice=_sharing_advice,
    ),
    Check(
        code="PD03",
        dimension=DIMENSION,
        name="bureau_queries",
        measured=("bureau_queries_12m", "bureau_credit_accounts"),
        thresholds=lambda p: {"max_bureau_queries_per_year": p.visibility.partner_data.max_bureau_queries_per_year},
        status=_queries_status,
        advice=_queries_advice,
    ),
)
