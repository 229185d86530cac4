"""Compute every visibility feature per user from stored events, vectorised.

The same function serves a whole population and a single user (whose event frames
simply hold one user's rows): there is no separate online implementation.
"""

from __future__ import annotations

import duckdb
import polars as pl

from lendguard.consent.gate import GatedData
from lendguard.events.columns import MONEY_DTYPE, empty_frame
from lendguard.events.schema import EVENT_TYPES
from lendguard.features.activity import app_open_features, external_score_features
from lendguard.features.bills import bill_features
from lendguard.features.device import (
    device_report_features,
    security_deductions,
    security_grade,
    security_score,
)
from lendguard.features.dormancy import dormancy_features
from lendguard.features.kyc import (
    bank_card_features,
    credit_card_repayment_features,
    derived_kyc_features,
    identity_features,
)
from lendguard.features.logins import client_version_number, login_features
from lendguard.features.partner import derived_partner_features, partner_features
from lendguard.features.payments import (
    derived_payment_features,
    month_column,
    payment_features,
)
from lendguard.features.profile import profile_features
from lendguard.features.region import derived_region_features, geography_frame
from lendguard.features.social import derived_social_features, social_features
from lendguard.features.transfers import (
    derived_red_packet_features,
    red_packet_features,
)
from lendguard.features.wealth import wealth_features
from lendguard.features.window import AsOf
from lendguard.policy import Policy

RISK_STATE_SCHEMA = pl.Schema(
    {"user_id": pl.String, "risk_level": pl.String, "risk_since": pl.Datetime("us", "UTC"), "risk_recovers_at": pl.Datetime("us", "UTC")}
)

# Counts that mean "none seen" when a user has no events of that kind.
_ZERO_COUNTS = (
    "payments",
    "offline_payments",
    "night_payments",
    "red_packets_in",
    "red_packets_out",
    "bill_payments_quarter",
    "logins",
    "device_switches",
    "security_reports",
    "risky_wifi_reports",
    "debit_banks",
    "debit_cards",
    "credit_card_repayments",
    "contacts",
    "high_risk_contacts",
    "spending_scenes",
)
_FALSE_FLAGS = ("face_verified", "id_front", "id_back", "bureau_shared", "bureau_refused")


def compute_features(
    gated: GatedData,
    as_of: AsOf,
    policy: Policy,
    risk_states: pl.DataFrame | None = None,
    users: pl.LazyFrame | None = None,
    overrides: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """One row per user seen in any event, with every measured value the checks read.

    `overrides` (user_id plus one column per overridable check) marks checks a human
    review cleared.

    Reads only what the data gate let through (`gated`), and carries the gate's
    per-user availability flags so checks can tell "no data" from "not consented".
    `users` (every user any event names) may come from the store's registry; without it
    the users are found from the frames themselves.
    """
    events = {t: _lazy(gated.frames.get(t), t) for t in EVENT_TYPES}
    payments = gated.aggregates.get("payment_flows")
    per_user = [
        payments if payments is not None else payment_features(events["payment"], as_of, policy),
        red_packet_features(events["transfer"], as_of),
        dormancy_features(events["payment"], events["transfer"], as_of, policy),
        bill_features(events["bill_payment"], as_of),
        login_features(events["login"], as_of, policy),
        bank_card_features(events["bank_card"], as_of),
        identity_features(events["identity"], as_of),
        credit_card_repayment_features(events["credit_card_repayment"], as_of, policy),
        wealth_features(events["wealth_holding"], as_of, policy),
        partner_features(events["partner_report"], as_of, policy),
        social_features(events["social_contact"], as_of),
        profile_features(events["profile"], as_of),
        app_open_features(events["app_open"], as_of),
        external_score_features(events["external_score"], as_of),
    ]
    latest_reports, wifi = device_report_features(events["device_security"], as_of)
    per_user.append(wifi)

    # Every user named by any event (the store's registry, or the gate's distinct ids).
    if users is None:
        users = gated.users
    joined = users
    for frame in per_user:
        joined = joined.join(frame, on="user_id", how="left")
    joined = joined.join(
        latest_reports.rename({"device_id": "primary_device"}), on=["user_id", "primary_device"], how="left"
    )
    risk = (risk_states if risk_states is not None else pl.DataFrame(schema=RISK_STATE_SCHEMA)).lazy()
    joined = joined.join(risk.select(RISK_STATE_SCHEMA.names()), on="user_id", how="left")
    joined = joined.join(geography_frame(policy), on="city", how="left")
    joined = joined.join(gated.availability.lazy(), on="user_id", how="left")
    if overrides is not None:
        joined = joined.join(overrides.lazy(), on="user_id", how="left")

    months = [month_column(i) for i in range(as_of.months)]
    features = (
        joined.with_columns(
            *[pl.col(c).fill_null(0) for c in (*_ZERO_COUNTS, "failed_minor_checks")],
            *[pl.col(c).fill_null(0.0) for c in (*months, "app_opens_per_day")],
            *[pl.col(c).fill_null(False) for c in (*_FALSE_FLAGS, "rooted", "modified_client", "malware", "unknown_sources")],
            pl.col("wealth_balance").fill_null(pl.lit(0, dtype=MONEY_DTYPE)),
            pl.col("largest_holding").fill_null(pl.lit(0, dtype=MONEY_DTYPE)),
            pl.col("region_tier").fill_null("other"),
            pl.col("risk_level").fill_null("R0"),
            *[pl.col(c).fill_null(False) for c in gated.availability.columns if c != "user_id"],
        )
        .with_columns(
            *derived_payment_features(as_of),
            *derived_red_packet_features(),
            *derived_kyc_features(as_of, policy),
            *derived_partner_features(as_of, policy),
            *derived_social_features(),
            *derived_region_features(),
            (pl.col("device_switches") / as_of.months).alias("device_switches_per_month"),
            client_version_number(),
            pl.when(pl.col("security_reports") > 0)
            .then(pl.col("risky_wifi_reports") / pl.col("security_reports"))
            .otherwise(0.0)
            .alias("risky_wifi_share"),
        )
        .with_columns(security_deductions(policy))
        .with_columns(security_score())
        .with_columns(security_grade(policy))
        .collect()
    )
    return features.with_columns(gray_release_buckets(features["user_id"], policy)).sort("user_id")


def is_behaviour(name: str) -> bool:
    """Whether a computed column describes the user: not the gate's consent flags, a
    review's override or a rollout bucket, which a score must never read."""
    return not (name.startswith("consent__") or name.endswith("__override") or name.startswith("gray_"))


def gray_release_buckets(user_ids: pl.Series, policy: Policy) -> list[pl.Series]:
    """Deterministic per-user buckets from MD5 of a salted id: stable across versions and machines.

    `gray_bucket` (0-99.99) decides the rollout share, `gray_batch_bucket` the user-tier batch.
    """
    salt = policy.visibility.gray_release.salt
    ids = pl.DataFrame({"user_id": user_ids})
    con = duckdb.connect()
    try:
        con.register("ids", ids.to_arrow())
        buckets = con.execute(
            f"SELECT {_bucket_sql('h1')} AS gray_bucket, {_bucket_sql('h2')} AS gray_batch_bucket FROM "
            "(SELECT md5_number(? || ':' || user_id) AS h1, md5_number(? || ':batch:' || user_id) AS h2 FROM ids)",
            [salt, salt],
        ).fetchnumpy()
    finally:
        con.close()
    return [pl.Series(name, buckets[name], dtype=pl.Float64) for name in ("gray_bucket", "gray_batch_bucket")]


def _bucket_sql(number: str, buckets: int = 10_000) -> str:
    """`number % buckets / 100` for a 128-bit md5 number, by its two 64-bit halves:
    (hi * 2^64 + lo) mod m = ((hi mod m) * (2^64 mod m) + lo mod m) mod m, which DuckDB
    computes about 15 times faster than a 128-bit modulo."""
    high = f"(({number} >> 64)::UBIGINT % {buckets})"
    low = f"(({number} & {(1 << 64) - 1}::UHUGEINT)::UBIGINT % {buckets})"
    return f"CAST((({high} * {(1 << 64) % buckets} + {low}) % {buckets})::INTEGER / 100.0 AS DOUBLE)"


def _lazy(frame: pl.LazyFrame | pl.DataFrame | None, event_type: str) -> pl.LazyFrame:
    if frame is None:
        return empty_frame(event_type).lazy()
    return frame.lazy() if isinstance(frame, pl.DataFrame) else frame
