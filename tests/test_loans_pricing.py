"""Schedules, APR by IRR and offers: exact money, checked by property and against values
computed independently (a bisection solver written here, textbook payments)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from fractions import Fraction

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lendguard.loans.apr import apr_of, bulk_aprs
from lendguard.loans.money import MoneyRules
from lendguard.loans.offers import cap_violation, offers_for, price
from lendguard.loans.schedule import Terms, add_months, build_schedule
from lendguard.policy import load_policy

POLICY = load_policy()
LOANS = POLICY.loans
MONEY = MoneyRules.of(LOANS)


def independent_irr(flows: list[Decimal]) -> float:
    """IRR per period by bisection on the net present value (no library)."""
    values = [Fraction(f) for f in flows]

    def npv(rate: Fraction) -> Fraction:
        return sum(v / (1 + rate) ** k for k, v in enumerate(values))

    low, high = Fraction(0), Fraction(1)
    for _ in range(80):
        middle = (low + high) / 2
        if npv(middle) > 0:
            low = middle
        else:
            high = middle
    return float((low + high) / 2)


@st.composite
def product_terms(draw):
    product_id = draw(st.sampled_from(sorted(LOANS.products)))
    product = LOANS.products[product_id]
    units = draw(st.integers(int(product.min_drawdown * 100), int(product.max_line * 100)))
    rate_units = draw(st.integers(int(product.daily_rate_min / product.rate_step), int(product.daily_rate_max / product.rate_step)))
    start = dt.date(2026, 1, 1) + dt.timedelta(days=draw(st.integers(0, 800)))
    return product_id, Terms(
        Decimal(units) / 100, draw(st.sampled_from(product.terms_months)), draw(st.sampled_from(product.methods)),
        rate_units * product.rate_step, start, draw(st.sampled_from([Decimal(0), Decimal("0.001"), Decimal("0.0035")])),
    )


@settings(max_examples=300, deadline=None)
@given(product_terms())
def test_every_schedule_repays_its_principal_and_discloses_its_irr(case):
    _, terms = case
    schedule = build_schedule(terms, MONEY, LOANS.days_per_month, LOANS.days_per_year)
    installments = schedule.installments
    assert sum(i.principal for i in installments) == terms.principal  # the residue lands, never lost
    assert schedule.total_interest == sum(i.interest for i in installments)
    assert schedule.total_repaid == terms.principal + schedule.total_interest + schedule.total_fees
    assert all(i.principal >= 0 and i.interest >= 0 and i.amount == i.amount.quantize(Decimal("0.01")) for i in installments)
    assert schedule.cash_flows()[0] == -terms.principal  # disbursed = contract principal: no head-cut
    assert [i.due_date for i in installments] == sorted({i.due_date for i in installments})
    if terms.method == "equal_installment":
        assert len({i.amount for i in installments[:-1]}) <= 1
    if schedule.total_interest + schedule.total_fees > 0:
        apr = apr_of(schedule)
        assert abs(float(apr) - independent_irr(schedule.cash_flows()) * float(schedule.periods_per_year)) < 1e-6


def test_textbook_values():
    schedule = build_schedule(Terms(Decimal("10000"), 12, "equal_installment", Decimal("0.0005"), dt.date(2026, 1, 31)), MONEY)
    assert schedule.installments[0].amount == Decimal("916.80")  # PMT(1.5%, 12, 10000)
    assert schedule.installments[0].interest == Decimal("150.00")
    assert str(schedule.total_interest) == "1001.61"
    assert [str(i.due_date) for i in schedule.installments[:3]] == ["2026-02-28", "2026-03-31", "2026-04-30"]
    bullet = build_schedule(Terms(Decimal("10000"), 12, "interest_first", Decimal("0.0005"), dt.date(2026, 1, 31)), MONEY)
    assert apr_of(bullet) == Decimal("0.18")  # 1.5% a month, paid monthly: exactly 18%
    daily = build_schedule(Terms(Decimal("10000"), 12, "daily_interest", Decimal("0.0006"), dt.date(2026, 1, 1)), MONEY)
    assert daily.installments[0].interest == Decimal("2190.00") and apr_of(daily) == Decimal("0.219")  # 0.06% x 365
    # A 2% monthly service fee makes a nominal 18% cost far more: the APR shows it.
    fee = build_schedule(Terms(Decimal("10000"), 12, "equal_installment", Decimal("0.0005"), dt.date(2026, 1, 31), Decimal("0.02")), MONEY)
    assert fee.installments[0].fee == Decimal("200.00")
    assert abs(float(apr_of(fee)) - independent_irr(fee.cash_flows()) * 12) < 1e-6 and apr_of(fee) > Decimal("0.5")


def test_months_clamp_to_the_end_of_short_months():
    assert add_months(dt.date(2026, 1, 31), 1) == dt.date(2026, 2, 28)
    assert add_months(dt.date(2028, 1, 31), 1) == dt.date(2028, 2, 29)
    assert add_months(dt.date(2026, 1, 31), 2) == dt.date(2026, 3, 31)
    assert add_months(dt.date(2026, 11, 30), 3) == dt.date(2027, 2, 28)


@pytest.mark.parametrize("rounding", ["half_up", "half_even", "down"])
def test_rounding_rules(rounding):
    money = MoneyRules.of(LOANS.model_copy(update={"rounding": rounding}))
    expected = {"half_up": ("0.13", "0.12"), "half_even": ("0.12", "0.12"), "down": ("0.12", "0.12")}[rounding]
    assert (str(money.round(Decimal("0.125"))), str(money.round(Decimal("0.1249")))) == expected
    assert money.round_minor(Fraction(125, 1000)) == int(expected[0].replace("0.", ""))
    schedule = build_schedule(Terms(Decimal("1000.01"), 7, "equal_principal", Decimal("0.00033"), dt.date(2026, 3, 3)), money)
    assert sum(i.principal for i in schedule.installments) == Decimal("1000.01")


def test_bulk_aprs_match_one_by_one():
    rng = np.random.default_rng(3)
    schedules = []
    for k in range(300):
        method = ["equal_installment", "equal_principal", "interest_first", "daily_interest"][k % 4]
        terms = Terms(Decimal(int(rng.integers(100, 10_000_000))) / 100, int(rng.choice([1, 3, 6, 12, 24])), method,
                      Decimal(int(rng.integers(10, 60))) / 100000, dt.date(2026, 1, 1), Decimal(int(rng.integers(0, 3))) / 1000)
        schedules.append(build_schedule(terms, MONEY))
    width = max(len(s.installments) for s in schedules) + 1
    flows = np.zeros((len(schedules), width))
    for row, s in enumerate(schedules):
        flows[row, : len(s.installments) + 1] = [float(f) for f in s.cash_flows()]
    periods = np.array([float(s.periods_per_year) for s in schedules])
    bulk = bulk_aprs(flows, periods)
    assert np.allclose(bulk, [float(apr_of(s)) for s in schedules], atol=1e-8, rtol=0)


def test_a_price_above_the_cap_is_refused():
    product = LOANS.products["JB"]
    _, apr = price(product, LOANS, Decimal("10000"), Decimal("0.0007"), "daily_interest", 12, dt.date(2026, 1, 1))
    violation = cap_violation(apr, LOANS)
    assert violation is not None and violation.code == "LN08" and "25.55%" in str(violation)
    _, ok = price(product, LOANS, Decimal("10000"), Decimal("0.0006"), "daily_interest", 12, dt.date(2026, 1, 1))
    assert cap_violation(ok, LOANS) is None
    strict = LOANS.model_copy(update={"caps": LOANS.caps.model_copy(update={"judicial_ceiling_refuses": True})})
    assert cap_violation(ok, strict).code == "LN09"  # 21.9% > 4 x 3.0% LPR


def _row(**values) -> pl.DataFrame:
    base = {
        "user_id": "u1", "visible": True, "external_score": 700, "real_name_months": 30.0, "app_opens_per_day": 5.0,
        "payments_per_month": 40.0, "wealth_balance": Decimal("60000"), "wealth_holding_days": 200, "spending_scenes": 6,
        "credit_history_years": 6.0, "region_tier": "tier1",
    }
    return pl.DataFrame([{**base, **values}])


def test_offers_admit_price_and_explain():
    today = dt.date(2026, 11, 24)
    offers = {o.product_id: o for o in offers_for(_row(), POLICY, today)}
    assert all(o.admitted for o in offers.values())
    wld = offers["WLD"]
    assert wld.line == Decimal("200000") and wld.daily_rate == Decimal("0.0002")  # every factor saturated: best price
    assert wld.pricing.disbursed == wld.pricing.principal == wld.line
    assert abs(wld.apr - Decimal("0.072")) < Decimal("0.0001") and "APR (IRR)" in wld.summary.en
    county = {o.product_id: o for o in offers_for(_row(region_tier="county"), POLICY, today)}
    assert county["WLD"].line == Decimal("100000")  # county areas: max line halved

    refused = {o.product_id: o for o in offers_for(_row(external_score=None, real_name_months=5.0, wealth_balance=Decimal("9000.50")), POLICY, today)}
    codes = {pid: [r.code for r in o.reasons] for pid, o in refused.items()}
    assert codes == {"WLD": ["LN02", "LN06"], "WE2K": ["LN01", "LN02", "LN06"], "JB": ["LN01"]}
    we2k = {r.code: r for r in refused["WE2K"].reasons}
    assert we2k["LN06"].gap == Decimal("999.50") and "999.50" in we2k["LN06"].advice.en
    assert we2k["LN02"].gap == 211  # days until the real-name age is above 12 months
    assert "信用分" in we2k["LN01"].reason.zh and refused["WE2K"].line == 0 and refused["WE2K"].pricing is None
    hidden = {o.product_id: o for o in offers_for(_row(visible=False), POLICY, today)}
    assert all([r.code for r in o.reasons] == ["LN00"] for o in hidden.values())


def test_a_thin_profile_gets_a_small_line_at_a_high_rate():
    offer = {o.product_id: o for o in offers_for(_row(wealth_holding_days=None, spending_scenes=1, credit_history_years=0.5), POLICY, dt.date(2026, 11, 24))}
    jb = offer["JB"]
    # score = 0.2 x 1/6 + 0.5 x 0.5/5 = 0.0833...: line 300,000 x score, price near the top of the range
    assert jb.line == Decimal("25000") and jb.daily_rate == Decimal("0.00056")
    wld = offer["WLD"]  # score 0.3 x 1/6 + 0.3 x 0.1 = 0.08: 16,000 (min 500), rate 50 - 0.08 x 30 = 47.6 -> 0.048%
    assert wld.line == Decimal("16000") and wld.daily_rate == Decimal("0.00048")
    tiny = {o.product_id: o for o in offers_for(_row(wealth_holding_days=None, spending_scenes=0, credit_history_years=0.1), POLICY, dt.date(2026, 11, 24))}
    assert [r.code for r in tiny["WE2K"].reasons] == ["LN07"] and tiny["WE2K"].reasons[0].threshold == Decimal("200")


@pytest.mark.parametrize("rounding", ["half_up", "half_even", "down"])
@pytest.mark.parametrize("method", ["equal_installment", "equal_principal", "interest_first", "daily_interest"])
def test_bulk_schedules_equal_the_decimal_ones(method, rounding):
    from lendguard.loans.bulk import bulk_schedules
    from lendguard.loans.schedule import add_months

    money = MoneyRules.of(LOANS.model_copy(update={"rounding": rounding}))
    rng = np.random.default_rng(hash((method, rounding)) % 2**32)
    start, term = dt.date(2026, 1, 31), int(rng.choice([1, 3, 6, 12, 24]))
    principal = rng.integers(100_00, 30_000_000, 400)
    principal[:3] = [100_00, 123_45, 200_000_00]
    rate_units = rng.integers(15, 61, 400)
    fee = Decimal("0.0015")
    bulk = bulk_schedules(principal, rate_units, Decimal("0.00001"), term, method, money, 30, (add_months(start, term) - start).days, fee)
    for row in range(0, 400, 7):
        terms = Terms(Decimal(int(principal[row])) / 100, term, method, Decimal(int(rate_units[row])) / 100000, start, fee)
        exact = build_schedule(terms, money)
        assert [money.to_minor(i.principal) for i in exact.installments] == bulk.principal[row].tolist()
        assert [money.to_minor(i.interest) for i in exact.installments] == bulk.interest[row].tolist()
        assert money.to_minor(exact.installments[0].fee) == bulk.fee[row]
    flows = bulk.cash_flows(Decimal("0.01"))
    assert np.allclose(flows.sum(axis=1), (bulk.interest.sum(axis=1) + bulk.fee * bulk.principal.shape[1]) / 100)


def test_population_offers_equal_one_user_offers(population_dir):
    """One implementation: the vectorised population offers agree with each user's own."""
    from conftest import SYNTH_AS_OF

    from lendguard.features.window import AsOf
    from lendguard.loans.population import offer_summary, population_offers
    from lendguard.store.events import EventStore
    from lendguard.visibility.service import evaluate_store

    as_of = AsOf.of(SYNTH_AS_OF, POLICY)
    decisions = evaluate_store(EventStore(population_dir), POLICY, as_of).decisions
    offers = population_offers(decisions, POLICY, as_of.local_date)
    assert offers.height == decisions.height * len(LOANS.products)
    sample = decisions.filter(pl.col("visible")).head(40)
    for k in range(sample.height):
        one = {o.product_id: o for o in offers_for(sample[k], POLICY, as_of.local_date)}
        rows = offers.filter(pl.col("user_id") == sample["user_id"][k])
        for row in rows.iter_rows(named=True):
            offer = one[row["product_id"]]
            assert offer.admitted == row["admitted"], (row, offer.reasons)
            if offer.admitted:
                assert offer.line == Decimal(row["line_minor"]) / 100 and abs(float(offer.apr) - row["apr"]) < 1e-7
                assert abs(float(offer.daily_rate) - row["daily_rate"]) < 1e-12
            else:
                assert offer.reasons[0].code == row["reason"]
    summary = offer_summary(offers)
    assert summary["users"].to_list() == [decisions.height] * 3 and summary["admitted"].sum() > 0
