"""Dimension 4, payment behaviour: offline share, volatility, bills, red packets, night share, dormancy."""

from __future__ import annotations

import numpy as np
import polars as pl

from lendguard.features.payments import month_column
from lendguard.visibility.check import Advice, Check, ceil_int, graded

DIMENSION = "payment_behaviour"


def _offline_status(policy, as_of):
    r = policy.visibility.payment_behaviour
    return graded(pl.col("offline_share") < r.min_offline_share, warning=pl.col("offline_share") < r.warn_offline_share)


def _offline_advice(policy, as_of):
    """k more offline payments: (off + k) / (n + k) >= target  <=>  k >= (target*n - off) / (1 - target)."""
    r = policy.visibility.payment_behaviour
    share = pl.col("offline_share")
    target = pl.when(share < r.min_offline_share).then(pl.lit(r.min_offline_share)).otherwise(pl.lit(r.warn_offline_share))
    count = ceil_int((target * pl.col("payments") - pl.col("offline_payments")) / (1 - target)).clip(lower_bound=1)
    variant = pl.when(share < r.warn_offline_share).then(pl.lit("add_offline_payments"))
    return Advice(variant=variant, params={"count": pl.when(share < r.warn_offline_share).then(count), "target_share": pl.when(share < r.warn_offline_share).then(target)})


def _volatility_status(policy, as_of):
    r = policy.visibility.payment_behaviour
    return graded(pl.col("monthly_volatility") > r.max_monthly_volatility)


def smoothing_level(months: np.ndarray, limit: float) -> np.ndarray:
    """Per user, the spend level L such that raising every month below L up to L brings
    (max - min) / mean down to `limit` (NaN where already within it).

    Raising the lowest j months to L keeps the maximum; solving
    max - L = limit * (L*j + rest) / n  gives  L = (max - limit*rest/n) / (1 + limit*j/n),
    valid when L lies between the j-th and (j+1)-th smallest month.
    """
    sorted_months = np.sort(months, axis=1)
    n = sorted_months.shape[1]
    top = sorted_months[:, -1]
    mean = sorted_months.mean(axis=1)
    within = np.where(mean > 0, (top - sorted_months[:, 0]) / np.where(mean > 0, mean, 1), 0) <= limit
    level = np.full(len(months), np.nan)
    for j in range(1, n):
        rest = sorted_months[:, j:].sum(axis=1)
        candidate = (top - limit * rest / n) / (1 + limit * j / n)
        valid = np.isnan(level) & ~within & (candidate >= sorted_months[:, j - 1] - 1e-9) & (candidate <= sorted_months[:, j] + 1e-9)
        level = np.where(valid, candidate, level)
    return level


def _volatility_advice(policy, as_of):
    r = policy.visibility.payment_behaviour
    months = [month_column(i) for i in range(as_of.months)]
    limit = r.max_monthly_volatility

    def level(frame: pl.Series) -> pl.Series:
        values = frame.struct.unnest().to_numpy().astype(np.float64)
        raw = smoothing_level(values, limit)
        # Round up to the next whole unit so the advice is safely enough.
        return pl.Series(np.ceil(raw + 1e-6), dtype=pl.Float64)

    spend_level = pl.struct(months).map_batches(level, return_dtype=pl.Float64)
    failing = pl.col("monthly_volatility") > limit
    return Advice(
        variant=pl.when(failing).then(pl.lit("steady_spending")),
        params={"level": pl.when(failing).then(spend_level), "lowest_month": pl.when(failing).then(pl.min_horizontal(months))},
    )


def _bills_status(policy, as_of):
    return graded(pl.col("bill_payments_quarter") < policy.visibility.payment_behaviour.min_bill_payments_per_quarter)


def _bills_advice(policy, as_of):
    missing = policy.visibility.payment_behaviour.min_bill_payments_per_quarter - pl.col("bill_payments_quarter")
    return Advice(variant=pl.when(missing > 0).then(pl.lit("pay_bill")), params={"count": pl.when(missing > 0).then(missing)})


def _one_way(policy):
    r = policy.visibility.payment_behaviour
    return (pl.col("red_packets") >= r.red_packet_min_count) & (pl.col("red_packet_imbalance") > r.red_packet_max_imbalance)


def _red_status(policy, as_of):
    return graded(_one_way(policy))


def _red_advice(policy, as_of):
    """k red packets the other way: with a >= b, (a - b - k) <= t (a + b + k)  <=>  k >= (a(1-t) - b(1+t)) / (1+t)."""
    t = policy.visibility.payment_behaviour.red_packet_max_imbalance
    big = pl.max_horizontal("red_packets_in", "red_packets_out")
    small = pl.min_horizontal("red_packets_in", "red_packets_out")
    count = ceil_int((big * (1 - t) - small * (1 + t)) / (1 + t)).clip(lower_bound=1)
    direction = pl.when(pl.col("red_packets_in") >= pl.col("red_packets_out")).then(pl.lit("send")).otherwise(pl.lit("receive"))
    failing = _one_way(policy)
    return Advice(
        variant=pl.when(failing).then(pl.lit("balance_red_packets")),
        params={"count": pl.when(failing).then(count), "direction": pl.when(failing).then(direction)},
    )


def _night_status(policy, as_of):
    return graded(pl.col("night_share") > policy.visibility.payment_behaviour.max_night_share)


def _night_advice(policy, as_of):
    """k daytime payments: night / (n + k) <= t  <=>  k >= night / t - n."""
    t = policy.visibility.payment_behaviour.max_night_share
    failing = pl.col("night_share") > t
    count = ceil_int(pl.col("night_payments") / t - pl.col("payments")).clip(lower_bound=1)
    return Advice(variant=pl.when(failing).then(pl.lit("daytime_payments")), params={"count": pl.when(failing).then(count)})


def _dormant_status(policy, as_of):
    return graded(pl.col("dormant_large_at").is_not_null())


def _dormant_advice(policy, as_of):
    recent = policy.visibility.payment_behaviour.recent_days
    flagged = pl.col("dormant_large_at").is_not_null()
    days = ceil_int(recent - pl.col("dormant_large_days_ago")).clip(lower_bound=1)
    return Advice(variant=pl.when(flagged).then(pl.lit("wait_dormant")), params={"days": pl.when(flagged).then(days)})


CHECKS = (
    Check(
        code="PB01",
        dimension=DIMENSION,
        name="offline_share",
        measured=("offline_share", "offline_payments", "payments"),
        thresholds=lambda p: {
            "min_offline_share": p.visibility.payment_behaviour.min_offline_share,
            "warn_offline_share": p.visibility.payment_behaviour.warn_offline_share,
        },
        status=_offline_status,
        advice=_offline_advice,
    ),
    Check(
        code="PB02",
        dimension=DIMENSION,
        name="monthly_volatility",
        measured=("monthly_volatility",),
        thresholds=lambda p: {
            "max_monthly_volatility": p.visibility.payment_behaviour.max_monthly_volatility,
            "bad_monthly_volatility": p.visibility.payment_behaviour.bad_monthly_volatility,
        },
        status=_volatility_status,
        advice=_volatility_advice,
    ),
    Check(
        code="PB03",
        dimension=DIMENSION,
        name="bill_payments",
        measured=("bill_payments_quarter",),
        thresholds=lambda p: {"min_bill_payments_per_quarter": p.visibility.payment_behaviour.min_bill_payments_per_quarter},
        status=_bills_status,
        advice=_bills_advice,
    ),
    Check(
        code="PB04",
        dimension=DIMENSION,
        name="red_packet_direction",
        measured=("red_packet_imbalance", "red_packets_in", "red_packets_out"),
        thresholds=lambda p: {
            "red_packet_max_imbalance": p.visibility.payment_behaviour.red_packet_max_imbalance,
            "red_packet_min_count": p.visibility.payment_behaviour.red_packet_min_count,
        },
        status=_red_status,
        advice=_red_advice,
    ),
    Check(
        code="PB05",
        dimension=DIMENSION,
        name="night_share",
        measured=("night_share", "night_payments", "payments"),
        thresholds=lambda p: {"max_night_share": p.visibility.payment_behaviour.max_night_share},
        status=_night_status,
        advice=_night_advice,
    ),
    Check(
        code="PB06",
        dimension=DIMENSION,
        name="dormant_then_large",
        measured=("dormant_large_at",),
        thresholds=lambda p: {
            "dormant_days": p.visibility.payment_behaviour.dormant_days,
            "recent_days": p.visibility.payment_behaviour.recent_days,
            "large_amount": p.visibility.payment_behaviour.large_amount,
        },
        status=_dormant_status,
        advice=_dormant_advice,
    ),
)
