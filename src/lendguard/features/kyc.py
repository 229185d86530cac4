"""KYC features: bound debit cards by bank, face and ID verification, ID expiry, card repayments."""

from __future__ import annotations

import datetime as dt

import polars as pl

from lendguard.features.window import AsOf, latest, latest_known
from lendguard.policy import Policy


def bank_card_features(cards: pl.LazyFrame, as_of: AsOf) -> pl.LazyFrame:
    current = (
        cards.filter(as_of.until())
        .group_by("user_id", "card_id")
        .agg(latest("action"), latest("bank"), latest("card_type"))
        .filter(pl.col("action") == "bind")
    )
    return current.group_by("user_id").agg(
        pl.col("bank").filter(pl.col("card_type") == "debit").n_unique().cast(pl.Int64).alias("debit_banks"),
        (pl.col("card_type") == "debit").sum().cast(pl.Int64).alias("debit_cards"),
    )


def identity_features(identity: pl.LazyFrame, as_of: AsOf) -> pl.LazyFrame:
    return (
        identity.filter(as_of.until())
        .group_by("user_id")
        .agg(
            pl.col("face_verified").any().alias("face_verified"),
            pl.col("id_front").any().alias("id_front"),
            pl.col("id_back").any().alias("id_back"),
            latest_known("id_expiry"),
        )
    )


def credit_card_repayment_features(repayments: pl.LazyFrame, as_of: AsOf, policy: Policy) -> pl.LazyFrame:
    days = policy.visibility.kyc.credit_card_repayment_lookback_days
    return (
        repayments.filter(as_of.within(days))
        .group_by("user_id")
        .agg(pl.len().cast(pl.Int64).alias("credit_card_repayments"))
    )


def derived_kyc_features(as_of: AsOf, policy: Policy) -> list[pl.Expr]:
    rules = policy.visibility.kyc
    id_both = pl.col("id_front") & pl.col("id_back")
    class_three = (
        (pl.col("debit_banks") >= rules.min_debit_banks)
        & pl.col("face_verified")
        & id_both
        & (pl.col("credit_card_repayments") >= rules.min_credit_card_repayments)
    )
    class_two = pl.col("face_verified") | id_both | (pl.col("debit_cards") > 0)
    today: dt.date = as_of.local_date
    return [
        pl.when(class_three).then(3).when(class_two).then(2).otherwise(1).cast(pl.Int64).alias("account_class"),
        (pl.lit(today) - pl.col("id_expiry")).dt.total_days().cast(pl.Int64).alias("id_expired_days"),
    ]
