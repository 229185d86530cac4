"""Dimension 3, KYC account class >= III: debit cards of different banks, face + ID, card repayments, ID expiry."""

from __future__ import annotations

import polars as pl

from lendguard.visibility.check import Advice, Check, graded

DIMENSION = "kyc"


def _banks_status(policy, as_of):
    return graded(pl.col("debit_banks") < policy.visibility.kyc.min_debit_banks)


def _banks_advice(policy, as_of):
    missing = policy.visibility.kyc.min_debit_banks - pl.col("debit_banks")
    return Advice(variant=pl.when(missing > 0).then(pl.lit("bind_cards")), params={"count": pl.when(missing > 0).then(missing)})


def _face_status(policy, as_of):
    return graded(~pl.col("face_verified") if policy.visibility.kyc.require_face_verification else pl.lit(False))


def _face_advice(policy, as_of):
    failing = ~pl.col("face_verified") if policy.visibility.kyc.require_face_verification else pl.lit(False)
    return Advice(variant=pl.when(failing).then(pl.lit("verify_face")))


def _id_missing(policy):
    if not policy.visibility.kyc.require_id_both_sides:
        return pl.lit(False)
    return ~(pl.col("id_front") & pl.col("id_back"))


def _id_status(policy, as_of):
    return graded(_id_missing(policy))


def _id_advice(policy, as_of):
    return Advice(
        variant=pl.when(_id_missing(policy)).then(pl.lit("upload_id")),
        params={"front": ~pl.col("id_front"), "back": ~pl.col("id_back")},
    )


def _repayment_status(policy, as_of):
    return graded(pl.col("credit_card_repayments") < policy.visibility.kyc.min_credit_card_repayments)


def _repayment_advice(policy, as_of):
    missing = policy.visibility.kyc.min_credit_card_repayments - pl.col("credit_card_repayments")
    return Advice(variant=pl.when(missing > 0).then(pl.lit("repay_credit_card")), params={"count": pl.when(missing > 0).then(missing)})


def _expiry_status(policy, as_of):
    expired = pl.col("id_expired_days")
    grace = policy.visibility.kyc.id_expiry_grace_days
    return graded(failing=expired > grace, warning=expired > 0, unknown=expired.is_null())


def _expiry_advice(policy, as_of):
    expired = pl.col("id_expired_days")
    return Advice(
        variant=pl.when(expired.is_null()).then(pl.lit("add_id_expiry")).when(expired > 0).then(pl.lit("renew_id")),
        params={"grace_left": pl.when(expired > 0).then(pl.lit(policy.visibility.kyc.id_expiry_grace_days) - expired)},
    )


CHECKS = (
    Check(
        code="KY01",
        dimension=DIMENSION,
        name="debit_cards",
        measured=("debit_banks", "debit_cards", "account_class"),
        thresholds=lambda p: {"min_debit_banks": p.visibility.kyc.min_debit_banks, "min_account_class": p.visibility.kyc.min_account_class},
        status=_banks_status,
        advice=_banks_advice,
    ),
    Check(
        code="KY02",
        dimension=DIMENSION,
        name="face_verification",
        measured=("face_verified",),
        thresholds=lambda p: {"require_face_verification": p.visibility.kyc.require_face_verification},
        status=_face_status,
        advice=_face_advice,
    ),
    Check(
        code="KY03",
        dimension=DIMENSION,
        name="id_document",
        measured=("id_front", "id_back"),
        thresholds=lambda p: {"require_id_both_sides": p.visibility.kyc.require_id_both_sides},
        status=_id_status,
        advice=_id_advice,
    ),
    Check(
        code="KY04",
        dimension=DIMENSION,
        name="credit_card_repayment",
        measured=("credit_card_repayments",),
        thresholds=lambda p: {
            "min_credit_card_repayments": p.visibility.kyc.min_credit_card_repayments,
            "credit_card_repayment_lookback_days": p.visibility.kyc.credit_card_repayment_lookback_days,
        },
        status=_repayment_status,
        advice=_repayment_advice,
    ),
    Check(
        code="KY05",
        dimension=DIMENSION,
        name="id_expiry",
        measured=("id_expiry", "id_expired_days"),
        thresholds=lambda p: {"id_expiry_grace_days": p.visibility.kyc.id_expiry_grace_days},
        status=_expiry_status,
        advice=_expiry_advice,
    ),
)
