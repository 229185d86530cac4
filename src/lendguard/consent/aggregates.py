"""The de-identified aggregates the gate may hand out instead of rows (SPEC §4).

Payment flows without the deep-credit grant are shared only as per-user monthly
totals: counts, offline and night counts and spend per month, never a transaction,
a counterparty or a time of day.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import polars as pl

from lendguard.features.payments import payment_features
from lendguard.features.window import AsOf
from lendguard.policy import Policy

Aggregate = Callable[[Mapping[str, pl.LazyFrame], AsOf, Policy], pl.LazyFrame]


def payment_flow_aggregate(frames: Mapping[str, pl.LazyFrame], as_of: AsOf, policy: Policy) -> pl.LazyFrame:
    return payment_features(frames["payment"], as_of, policy)


AGGREGATES: dict[str, Aggregate] = {"payment_flows": payment_flow_aggregate}
