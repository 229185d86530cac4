"""Dimension 2, region: licensed province, anti-fraud focus areas, restricted groups, location check."""

from __future__ import annotations

import polars as pl

from lendguard.visibility.check import Advice, Check, graded

DIMENSION = "region"


def _location_status(policy, as_of):
    needed = policy.visibility.region.min_agreeing_location_signals
    return graded(pl.col("location_agreement") < needed, unknown=pl.col("location_signals") == 0)


def _location_advice(policy, as_of):
    """Log in with location services on from the target province until enough signals agree.

    The target is the phone number's home region when known, else the usual IP region.
    One more LBS (and IP) login there than the current most frequent province makes it
    the usual one.
    """
    needed = policy.visibility.region.min_agreeing_location_signals
    failing = (pl.col("location_agreement") < needed) | (pl.col("location_signals") == 0)
    target = pl.coalesce("phone_province", "ip_province", "lbs_province")
    in_target = pl.when(pl.col("phone_province").is_not_null()).then(
        pl.col("lbs_logins_in_phone_province")
    ).otherwise(pl.col("lbs_logins_in_ip_province"))
    logins = (pl.col("lbs_province_logins").fill_null(0) - in_target.fill_null(0) + 1).clip(lower_bound=1)
    return Advice(
        variant=pl.when(failing & target.is_not_null()).then(pl.lit("login_from_home")).when(failing).then(pl.lit("enable_location")),
        params={"province": pl.when(failing).then(target), "logins": pl.when(failing).then(logins.cast(pl.Int64))},
    )


def _unlicensed(policy):
    return pl.col("province").is_in(policy.visibility.region.unlicensed_provinces)


def _licence_status(policy, as_of):
    return graded(_unlicensed(policy).fill_null(False))


def _licence_advice(policy, as_of):
    return Advice(variant=pl.when(_unlicensed(policy)).then(pl.lit("unlicensed")), not_fixable=frozenset({"unlicensed"}))


def _focus(policy):
    return pl.col("city").is_in(policy.visibility.region.fraud_focus_cities)


def _focus_status(policy, as_of):
    return graded(_focus(policy).fill_null(False))


def _focus_advice(policy, as_of):
    return Advice(variant=pl.when(_focus(policy)).then(pl.lit("focus_area")), not_fixable=frozenset({"focus_area"}))


def _restricted(policy) -> pl.Expr:
    conditions = [pl.lit(False)]
    for group in policy.visibility.region.restricted_groups:
        in_group = pl.col("customer_group") == group.group
        where = pl.col("city").is_in(group.cities) if group.cities else pl.lit(True)
        conditions.append((in_group & where).fill_null(False))
    return pl.any_horizontal(conditions)


def _group_status(policy, as_of):
    return graded(_restricted(policy))


def _group_advice(policy, as_of):
    return Advice(variant=pl.when(_restricted(policy)).then(pl.lit("restricted_group")), not_fixable=frozenset({"restricted_group"}))


CHECKS = (
    Check(
        code="RG01",
        dimension=DIMENSION,
        name="location_consistency",
        measured=("location_agreement", "lbs_province", "phone_province", "ip_province", "province", "city", "region_tier"),
        thresholds=lambda p: {"min_agreeing_location_signals": p.visibility.region.min_agreeing_location_signals},
        status=_location_status,
        advice=_location_advice,
    ),
    Check(
        code="RG02",
        dimension=DIMENSION,
        name="licensed_province",
        measured=("province",),
        thresholds=lambda p: {"unlicensed_provinces": list(p.visibility.region.unlicensed_provinces)},
        status=_licence_status,
        advice=_licence_advice,
    ),
    Check(
        code="RG03",
        dimension=DIMENSION,
        name="fraud_focus_area",
        measured=("city",),
        thresholds=lambda p: {"fraud_focus_cities": list(p.visibility.region.fraud_focus_cities)},
        status=_focus_status,
        advice=_focus_advice,
    ),
    Check(
        code="RG04",
        dimension=DIMENSION,
        name="restricted_group",
        measured=("customer_group", "city"),
        thresholds=lambda p: {"restricted_groups": [g.model_dump() for g in p.visibility.region.restricted_groups]},
        status=_group_status,
        advice=_group_advice,
    ),
)
