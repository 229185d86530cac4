"""Each check just below, at and just above its policy threshold (numbers read from the policy)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import polars as pl
import pytest

from lendguard.events import schema as ev
from lendguard.features.build import RISK_STATE_SCHEMA, gray_release_buckets
from lendguard.policy import load_policy
from support import AS_OF, ZONE, UserBuilder, decide, local

POLICY = load_policy()
V = POLICY.visibility
TODAY = AS_OF.astimezone(ZONE).date()
MONTHS = POLICY.windows.months


def status(code: str, **changes) -> str:
    return decide(UserBuilder(**changes).frames())[code]


def test_baseline_user_passes_everything():
    row = decide(UserBuilder().frames())
    assert row["visible"] is True
    assert row["reason_codes"] == []


# ---- 1 credit ------------------------------------------------------------------------------
def _payments(total: int) -> dict:
    per_month, extra = divmod(total, MONTHS)
    events = [ev.Payment(event_id=f"x{k}", user_id="u-test", ts=local(5 + k), amount=Decimal("100.00"), channel="offline_qr", counterparty="s") for k in range(extra)]
    return {"payments_per_month": per_month, "extra": events}


@pytest.mark.parametrize(
    "total, expected",
    [(V.credit.min_payments_per_month * MONTHS - 1, "fail"), (V.credit.min_payments_per_month * MONTHS, "pass"), (V.credit.min_payments_per_month * MONTHS + 1, "pass")],
)
def test_payment_activity_boundary(total, expected):
    assert status("CR01", **_payments(total)) == expected


@pytest.mark.parametrize(
    "balance, days, expected",
    [
        (V.credit.min_wealth_balance, V.credit.min_wealth_holding_days - 1, "fail"),
        (V.credit.min_wealth_balance, V.credit.min_wealth_holding_days, "pass"),
        (V.credit.min_wealth_balance, V.credit.min_wealth_holding_days + 1, "pass"),
        (V.credit.min_wealth_balance - Decimal("0.01"), 400, "fail"),
    ],
)
def test_wealth_holding_boundary(balance, days, expected):
    assert status("CR02", wealth=(str(balance), days)) == expected


def test_no_wealth_holding_fails_with_deposit_advice():
    row = decide(UserBuilder(wealth=None).frames())
    assert row["CR02"] == "fail"
    assert row["CR02__advice"] == "deposit_and_hold"
    assert row["CR02__deposit"] == V.credit.min_wealth_balance
    assert row["CR02__hold_days"] == V.credit.min_wealth_holding_days


@pytest.mark.parametrize("delta_days, expected", [(-1, "fail"), (0, "pass"), (1, "pass")])
def test_credit_history_boundary(delta_days, expected):
    import math

    days = math.ceil(V.credit.min_credit_history_years * 365.25) + delta_days
    assert status("CR03", history_years=days / 365.25) == expected


def test_credit_history_without_bureau_is_not_assessable():
    assert status("CR03", bureau="absent") == "not_assessable"


@pytest.mark.parametrize(
    "contacts, risky, expected",
    [(10, 2, "pass"), (10, round(10 * V.credit.max_high_risk_contact_share), "pass"), (100, round(100 * V.credit.max_high_risk_contact_share) + 1, "fail")],
)
def test_high_risk_contacts_boundary(contacts, risky, expected):
    assert status("CR04", contacts=contacts, risky_contacts=risky) == expected


# ---- 2 region ------------------------------------------------------------------------------
def test_location_two_of_three_agree_passes_and_all_differ_fails():
    assert status("RG01", phone_province="Hunan") == "pass"
    row = decide(UserBuilder(phone_province="Hunan", ip_province="Hubei").frames())
    assert row["RG01"] == "fail"
    assert row["RG01__advice"] == "login_from_home"
    assert row["RG01__province"] == "Hunan"


def test_unlicensed_province_closes_and_cannot_be_fixed():
    province = V.region.unlicensed_provinces[0]
    city = POLICY.geography.filter(pl.col("province") == province)["city"][0]
    row = decide(UserBuilder(province=province, city=city).frames())
    assert row["RG02"] == "fail" and row["RG02__advice"] == "unlicensed"


def test_fraud_focus_city_closes():
    city = V.region.fraud_focus_cities[0]
    province = POLICY.geography.filter(pl.col("city") == city)["province"][0]
    assert status("RG03", province=province, city=city) == "fail"


def test_restricted_group_only_where_restricted():
    group = V.region.restricted_groups[0]
    restricted_city = group.cities[0]
    province = POLICY.geography.filter(pl.col("city") == restricted_city)["province"][0]
    assert status("RG04", customer_group=group.group, province=province, city=restricted_city) == "fail"
    assert status("RG04", customer_group=group.group) == "pass"


# ---- 3 KYC ---------------------------------------------------------------------------------
@pytest.mark.parametrize("delta, expected", [(-1, "fail"), (0, "pass"), (1, "pass")])
def test_debit_banks_boundary(delta, expected):
    assert status("KY01", debit_banks=V.kyc.min_debit_banks + delta) == expected


def test_face_and_id_required():
    assert status("KY02", face=False) == "fail"
    assert status("KY03", id_back=False) == "fail"


@pytest.mark.parametrize("days_ago, expected", [(V.kyc.credit_card_repayment_lookback_days - 1, "pass"), (V.kyc.credit_card_repayment_lookback_days + 1, "fail")])
def test_credit_card_repayment_window(days_ago, expected):
    repayment = ev.CreditCardRepayment(event_id="ccr-x", user_id="u-test", ts=local(days_ago), amount=Decimal("10.00"), bank="b")
    assert status("KY04", card_repayments=0, extra=[repayment]) == expected


@pytest.mark.parametrize(
    "expired_days_ago, expected",
    [(-1, "pass"), (0, "pass"), (1, "warn"), (V.kyc.id_expiry_grace_days, "warn"), (V.kyc.id_expiry_grace_days + 1, "fail")],
)
def test_id_expiry_grace(expired_days_ago, expected):
    assert status("KY05", id_expiry=TODAY - dt.timedelta(days=expired_days_ago)) == expected


# ---- 4 payment behaviour --------------------------------------------------------------------
def _offline_count(share: float, total: int) -> int:
    return round(share * total)


@pytest.mark.parametrize(
    "offline, expected",
    [
        (_offline_count(V.payment_behaviour.min_offline_share, 60) - 1, "fail"),
        (_offline_count(V.payment_behaviour.min_offline_share, 60), "warn"),
        (_offline_count(V.payment_behaviour.warn_offline_share, 60), "pass"),
    ],
)
def test_offline_share_boundary(offline, expected):
    assert status("PB01", offline_count=offline) == expected


@pytest.mark.parametrize(
    "months, expected",
    [(("200.00", "50.00", "50.00"), "pass"), (("201.00", "50.00", "49.00"), "fail"), (("100.00", "100.00", "100.00"), "pass")],
)
def test_monthly_volatility_boundary(months, expected):
    limit = V.payment_behaviour.max_monthly_volatility
    values = [float(m) for m in months]
    volatility = (max(values) - min(values)) / (sum(values) / 3)
    assert (volatility <= limit) == (expected == "pass")
    assert status("PB02", monthly_amounts=months) == expected


@pytest.mark.parametrize("days_ago, expected", [(POLICY.windows.quarter_days - 1, "pass"), (POLICY.windows.quarter_days + 1, "fail")])
def test_bill_payment_quarter(days_ago, expected):
    bill = ev.BillPayment(event_id="bill-x", user_id="u-test", ts=local(days_ago), amount=Decimal("50.00"), biller="water")
    assert status("PB03", bills=0, extra=[bill]) == expected


@pytest.mark.parametrize(
    "red_in, red_out, expected",
    [(V.payment_behaviour.red_packet_min_count - 1, 0, "pass"), (V.payment_behaviour.red_packet_min_count, 0, "fail"), (19, 1, "pass"), (20, 1, "fail")],
)
def test_red_packet_direction(red_in, red_out, expected):
    imbalance = abs(red_in - red_out) / (red_in + red_out)
    if red_in + red_out >= V.payment_behaviour.red_packet_min_count:
        assert (imbalance > V.payment_behaviour.red_packet_max_imbalance) == (expected == "fail")
    assert status("PB04", red_in=red_in, red_out=red_out) == expected


@pytest.mark.parametrize("night, expected", [(20, "pass"), (21, "fail")])
def test_night_share_boundary(night, expected):
    # 60 daytime payments + `night` at 01:00 local: 20/80 = 0.25 is the maximum.
    assert status("PB05", night_payments=night) == expected


def _dormant(amount: str, gap_days: float) -> dict:
    recent = 10
    last_before = recent + gap_days
    extra = [
        ev.Payment(event_id="old", user_id="u-test", ts=AS_OF - dt.timedelta(days=last_before), amount=Decimal("20.00"), channel="online", counterparty="s"),
        ev.Transfer(event_id="big", user_id="u-test", ts=AS_OF - dt.timedelta(days=recent), kind="transfer", direction="out", amount=Decimal(amount), counterparty="a"),
    ]
    return {"payments_per_month": 0, "red_in": 0, "red_out": 0, "extra": extra}


@pytest.mark.parametrize(
    "amount, gap, expected",
    [
        (str(V.payment_behaviour.large_amount), V.payment_behaviour.dormant_days, "fail"),
        (str(V.payment_behaviour.large_amount - Decimal("0.01")), V.payment_behaviour.dormant_days, "pass"),
        (str(V.payment_behaviour.large_amount), V.payment_behaviour.dormant_days - 0.5, "pass"),
    ],
)
def test_dormant_then_large(amount, gap, expected):
    assert status("PB06", **_dormant(amount, gap)) == expected


# ---- 5 partner data -------------------------------------------------------------------------
def test_bureau_refusal_is_not_assessable_not_a_risk():
    row = decide(UserBuilder(bureau="refused").frames())
    assert row["PD01"] == "not_assessable"
    assert row["PD01__advice"] == "share_bureau"
    # Refusing is not a failure of any other partner check.
    assert row["PD03"] == "pass"


@pytest.mark.parametrize("delta, expected", [(-1, "pass"), (0, "pass"), (1, "fail")])
def test_bureau_queries_boundary(delta, expected):
    assert status("PD03", bureau_queries=V.partner_data.max_bureau_queries_per_year + delta) == expected


# ---- 6 device ------------------------------------------------------------------------------
@pytest.mark.parametrize("finding, code", [("rooted", "DS01"), ("modified_client", "DS02"), ("malware", "DS03")])
def test_closing_findings(finding, code):
    assert status(code, security={finding: True}) == "fail"


@pytest.mark.parametrize("logins, expected", [(9, "pass"), (10, "fail")])
def test_device_switching_boundary(logins, expected):
    # Alternating two devices: logins - 1 switches; 9 switches in 3 months = 3/month (closes).
    switches = logins - 1
    assert (switches / MONTHS >= V.device_security.max_device_switches_per_month) == (expected == "fail")
    assert status("DS04", devices=2, logins=logins) == expected


@pytest.mark.parametrize("clean, risky, expected", [(7, 3, "pass"), (6, 3, "fail")])
def test_risky_wifi_share_boundary(clean, risky, expected):
    assert (risky / (clean + risky) > V.device_security.max_risky_wifi_share) == (expected == "fail")
    assert status("DS05", clean_reports=clean, risky_wifi_reports=risky) == expected


def test_security_score_boundary():
    d = V.device_security.deductions
    score = 100 - d.unknown_sources - 7 * d.failed_minor_check
    at_policy = POLICY.document.model_copy(
        update={"visibility": V.model_copy(update={"device_security": V.device_security.model_copy(update={"min_score": score})})}
    )
    from lendguard.policy.loader import Policy

    policy = Policy(document=at_policy, sha256="test", source="test", geography=POLICY.geography)
    at = decide(UserBuilder(security={"unknown_sources": True, "failed_minor_checks": 7}).frames(), policy)
    below = decide(UserBuilder(security={"unknown_sources": True, "failed_minor_checks": 8}).frames(), policy)
    assert at["security_score"] == score and at["DS06"] == "pass"
    assert below["security_score"] == score - d.failed_minor_check and below["DS06"] == "fail"
    assert below["DS06__advice"] == "raise_score" and below["DS06__disable_unknown_sources"] is True


def test_no_security_report_is_not_assessable():
    assert status("DS06", clean_reports=0) == "not_assessable"


# ---- 7 gray release --------------------------------------------------------------------------
def test_client_version_below_lowest_band_fails():
    lowest = V.gray_release.bands[-1].min_version
    major, minor, patch = (int(x) for x in lowest.split("."))
    assert status("GR01", version=f"{major}.{minor}.{patch - 1}") == "fail"
    assert status("GR01", version=lowest) == "pass"


def _user_with_bucket(predicate) -> str:
    ids = pl.Series([f"u-gray-{i}" for i in range(20_000)])
    bucket, _ = gray_release_buckets(ids, POLICY)
    return ids.filter(predicate(bucket))[0]


def test_rollout_bucket_boundary():
    band = V.gray_release.bands[1]
    share = band.rollout_percent
    inside = _user_with_bucket(lambda b: (b >= share - 0.5) & (b < share))
    at_edge = _user_with_bucket(lambda b: b == share)
    assert status("GR02", user_id=inside, version=band.min_version) == "pass"
    row = decide(UserBuilder(user_id=at_edge, version=band.min_version).frames())
    assert row["GR02"] == "fail" and row["GR02__advice"] == "update_client"
    # The same users on the top band (100 %) pass.
    assert status("GR02", user_id=at_edge, version=V.gray_release.bands[0].min_version) == "pass"


# ---- 8 anti-fraud ----------------------------------------------------------------------------
def _risk(level: str, recovers: dt.datetime | None) -> pl.DataFrame:
    return pl.DataFrame([("u-test", level, AS_OF - dt.timedelta(days=1), recovers)], schema=RISK_STATE_SCHEMA, orient="row")


def test_no_risk_state_passes():
    assert decide(UserBuilder().frames())["AF01"] == "pass"


@pytest.mark.parametrize(
    "level, recovers, expected, advice",
    [
        ("R1", AS_OF + dt.timedelta(days=3), "fail", "wait_recovery"),
        ("R1", AS_OF, "pass", None),
        ("R2", None, "fail", "second_verification"),
        ("R3", None, "fail", "closed_permanently"),
    ],
)
def test_risk_levels(level, recovers, expected, advice):
    row = decide(UserBuilder().frames(), risk=_risk(level, recovers))
    assert row["AF01"] == expected
    assert row["AF01__advice"] == advice
    if advice == "wait_recovery":
        assert row["AF01__days"] == 3
