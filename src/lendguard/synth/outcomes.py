"""Default outcomes for the synthetic population, from a documented latent model, so a
scorecard can be trained and judged on data where the truth is known.

SYNTHETIC DATA. Each user gets an application month (1–12, the last months later than the
rest) and a true probability of defaulting within a year of it:

    logit(pd) = intercept + sum_k weight_k x trait_k + month_drift x (month - 1) / 11 + shock

over the *latent* traits the event generator turned into behaviour (population.py), each
standardised within the chunk or used as 0/1. The shock is a normal draw the events never
show (information no lender has). The intercept is solved so the mean pd equals
`default_rate`. `defaulted` is one Bernoulli draw of pd. The draws use their own generator,
so adding outcomes left every synthetic event unchanged. `docs/scoring.md` lists the weights.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import polars as pl

OUTCOMES = "outcomes.parquet"
OUTCOME_SCHEMA = pl.Schema({"user_id": pl.String, "applied_month": pl.Int8, "true_pd": pl.Float64, "defaulted": pl.Int8})


@dataclass(frozen=True)
class OutcomeModel:
    """Weights on the latent traits (log-odds of default per standard deviation, or for 0/1)."""

    default_rate: float = 0.06
    weights: dict[str, float] = field(default_factory=lambda: {
        "eligible_like": -0.9,        # the segment that behaves like the seed's eligible users
        "credit_years": -0.35,        # longer credit history
        "payments_rate": -0.30,       # more payments per month
        "night_share": 0.25,          # share of payments at night
        "risky_contact_p": 0.40,      # chance a contact is high-risk
        "queries": 0.30,              # recent credit-bureau queries
        "wealth_holder": -0.35,       # holds a wealth product
        "cc_repayments": -0.20,       # recent credit-card repayments
        "grade_c": 0.45,              # the device security grade C
        "dormant": 0.50,
        "student": 0.60,
    })
    month_drift: float = 0.25  # later applications default a little more (the out-of-time split sees it)
    shock_sd: float = 0.8  # what no event reveals


def _trait(people: pl.DataFrame, name: str) -> np.ndarray:
    if name == "grade_c":
        return (people["grade"] == "C").to_numpy().astype(np.float64)
    values = people[name].cast(pl.Float64).to_numpy()
    if people[name].dtype == pl.Boolean:
        return values
    spread = values.std()
    return (values - values.mean()) / spread if spread > 0 else np.zeros_like(values)


def _intercept(linear: np.ndarray, rate: float) -> float:
    """The intercept at which the mean default probability is `rate` (bisection)."""
    low, high = -20.0, 20.0
    for _ in range(60):
        middle = (low + high) / 2
        if np.mean(1 / (1 + np.exp(-(middle + linear)))) < rate:
            low = middle
        else:
            high = middle
    return (low + high) / 2


def draw_outcomes(people: pl.DataFrame, rng: np.random.Generator, model: OutcomeModel = OutcomeModel()) -> pl.DataFrame:
    n = people.height
    if n == 0:
        return pl.DataFrame(schema=OUTCOME_SCHEMA)
    month = rng.integers(1, 13, n)
    linear = sum(weight * _trait(people, name) for name, weight in model.weights.items())
    linear = linear + model.month_drift * (month - 1) / 11 + rng.normal(0, model.shock_sd, n)
    pd_ = 1 / (1 + np.exp(-(_intercept(linear, model.default_rate) + linear)))
    return pl.DataFrame(
        {"user_id": people["user_id"], "applied_month": month, "true_pd": pd_, "defaulted": (rng.random(n) < pd_)},
        schema_overrides={"applied_month": pl.Int8, "defaulted": pl.Int8},
    ).cast(dict(OUTCOME_SCHEMA))
