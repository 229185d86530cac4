"""What a visibility check is: a policy-driven status expression plus the advice that flips it.

A check is written once as Polars expressions over the feature frame, so the
same code decides a million users at once or one user on an API call.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from lendguard.features.window import AsOf
from lendguard.policy import Policy

PASS, WARN, FAIL, NOT_ASSESSABLE = "pass", "warn", "fail", "not_assessable"
# The advice of any check whose data the user has not consented to share.
CONSENT_NEEDED = "consent_needed"

DIMENSIONS = (
    "credit",
    "region",
    "kyc",
    "payment_behaviour",
    "partner_data",
    "device_security",
    "gray_release",
    "anti_fraud",
)


@dataclass(frozen=True)
class Advice:
    """The smallest change that flips a check: which template (`variant`) and its numbers.

    `variant` evaluates to null where no advice applies (the check passes); variants
    listed in `not_fixable` are notes that nothing the user does can flip the check.
    """

    variant: pl.Expr
    params: dict[str, pl.Expr] = field(default_factory=dict)
    not_fixable: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Check:
    code: str
    dimension: str
    name: str
    measured: tuple[str, ...]
    thresholds: Callable[[Policy], dict[str, Any]]
    status: Callable[[Policy, AsOf], pl.Expr]
    advice: Callable[[Policy, AsOf], Advice]
    # Further row values the texts read (beyond `measured`), e.g. the score's reasons.
    context: tuple[str, ...] = ()

    def advice_column(self, param: str | None = None) -> str:
        return f"{self.code}__advice" if param is None else f"{self.code}__{param}"


def graded(failing: pl.Expr, warning: pl.Expr | None = None, unknown: pl.Expr | None = None) -> pl.Expr:
    """Status from conditions, most severe first: not assessable, fail, warn, pass."""
    expr = pl.when(unknown).then(pl.lit(NOT_ASSESSABLE)) if unknown is not None else None
    expr = (expr.when(failing) if expr is not None else pl.when(failing)).then(pl.lit(FAIL))
    if warning is not None:
        expr = expr.when(warning).then(pl.lit(WARN))
    return expr.otherwise(pl.lit(PASS))


def ceil_int(expr: pl.Expr) -> pl.Expr:
    """Ceiling as an integer, tolerant of floating-point dust (2.0000000001 -> 2)."""
    return (expr - 1e-9).ceil().clip(lower_bound=0).cast(pl.Int64)
