"""A loan's whole life through the command line on the simulated clock (apply, drawdown,
repay, prepay, statement, close), what is due and what cures, and a year of a loan book
simulated on the population's own offers, ending in a ledger that balances."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from decimal import Decimal

import polars as pl
import pytest
from conftest import SYNTH_AS_OF
from test_cli import run

from lendguard.features.window import AsOf
from lendguard.loans.book import LoanBook
from lendguard.loans.database import open_ledger
from lendguard.loans.offers import Offer, Text
from lendguard.loans.population import population_offers
from lendguard.loans.portfolio import book_snapshot
from lendguard.loans.simulation import BEHAVIOURS, plan_portfolio, run_year
from lendguard.policy import load_policy
from lendguard.store.events import EventStore
from lendguard.visibility.service import VisibilityService

POLICY = load_policy()
D = Decimal
T0 = dt.datetime(2026, 1, 15, 2, tzinfo=dt.timezone.utc)  # 10:00 in Shanghai


def on(days: int) -> dt.datetime:
    return T0 + dt.timedelta(days=days)


def test_paying_what_is_due_cures_the_loan_and_prepays_nothing(book):
    line = book.open_line(Offer(product_id="JB", name=Text(zh="JB", en="JB"), admitted=True, line=D("50000"), daily_rate=D("0.0003"), summary=Text(zh="", en="")), "u1", "l")
    loan_id = book.draw(line["line_id"], D("12000"), 12, "equal_installment", "d", T0)["loan_id"]
    first = book.quote(loan_id, on(31))  # the first installment falls due on 15 Feb
    assert D(first["due"]) == D(book.loan(loan_id)["installments"][0]["principal"]) + D(book.loan(loan_id)["installments"][0]["interest"])
    book.accrue(dt.date(2026, 4, 10))  # two installments missed: M2, with penalty and the product's overdue fees
    late = book.quote(loan_id, on(85))
    assert (late["bucket"], late["days_past_due"]) == ("M2", 54)
    statement = book.statement(loan_id, on(85))
    assert statement["due"] == late["due"] and D(statement["balances"]["penalty"]) > 0 and D(statement["balances"]["fee"]) > 0
    assert [e["kind"] for e in statement["entries"]] == ["disbursement", "accrual"]
    assert statement["entries"][0]["debits"] == {"loans_principal": "12000.00"} and statement["entries"][0]["credits"] == {"cash": "12000.00"}
    paid = book.repay(loan_id, D(late["due"]), "cure", on(85))
    assert paid["paid"]["prepaid_principal"] == "0.00" and paid["loan"]["days_past_due"] == 0 and paid["loan"]["bucket"] == "current"
    assert book.quote(loan_id, on(85))["due"] == "0.00"
    assert D(book.quote(loan_id, on(85))["payoff"]) == D(paid["loan"]["balances"]["principal"]) + D(paid["loan"]["balances"]["interest"])


@pytest.fixture(scope="module")
def population(population_dir, tmp_path_factory):
    data = tmp_path_factory.mktemp("life") / "data"
    shutil.copytree(population_dir, data)
    when = AsOf.of(SYNTH_AS_OF, POLICY)
    decisions = VisibilityService(EventStore(data), POLICY).evaluate_all(when).decisions
    return data, when, decisions


def test_a_loan_through_the_command_line_on_the_simulated_clock(population):
    data, when, decisions = population
    offers = population_offers(decisions, POLICY, when.local_date)
    user = offers.filter(pl.col("admitted") & (pl.col("product_id") == "JB")).sort("user_id")["user_id"][0]
    d = ["-d", str(data)]
    applied = json.loads(run("loan", "apply", user, "JB", "3000", "--term", "6", "--key", "a1", "--as-of", "2026-11-24T10:00:00", "--json", *d).stdout)
    loan_id = applied["loan_id"]
    assert applied["disbursed"] == "3000.00" == applied["terms"]["principal"]
    again = json.loads(run("loan", "apply", user, "JB", "3000", "--term", "6", "--key", "a1", "--as-of", "2026-11-24T10:00:00", "--json", *d).stdout)
    assert again["loan_id"] == loan_id and again["replayed"] is True  # a retried application disburses once
    line_id = applied["line"]["line_id"]
    second = json.loads(run("loan", "drawdown", line_id, "500", "--term", "3", "--key", "d1", "--as-of", "2026-11-25", "--json", *d).stdout)
    assert second["line"]["used"] == "3500.00"

    first_due = applied["terms"]["installments"][0]
    statement = json.loads(run("loan", "statement", loan_id, "--as-of", first_due["due_date"], "--json", *d).stdout)
    assert statement["due"] == first_due["amount"] and statement["on"] == first_due["due_date"]
    refused = run("loan", "prepay", loan_id, "0.50", "--as-of", first_due["due_date"], *d, check=False)
    assert refused.returncode == 1 and "prepays nothing" in refused.stderr
    repaid = json.loads(run("loan", "repay", loan_id, statement["due"], "--key", "r1", "--as-of", first_due["due_date"], "--json", *d).stdout)
    assert repaid["loan"]["installments"][0]["principal_paid"] == first_due["principal"] and repaid["paid"]["prepaid_principal"] == "0.00"

    prepaid = json.loads(run("loan", "prepay", loan_id, "1000", "--key", "p1", "--as-of", "2027-01-10", "--json", *d).stdout)
    assert D(prepaid["paid"]["prepaid_principal"]) > 0 and prepaid["loan"]["status"] == "active"

    closed = run("loan", "close", loan_id, "--key", "c1", "--as-of", "2027-02-01", *d).stdout
    assert "closed: paid" in closed and "paid_off" in closed
    after = json.loads(run("loan", "statement", loan_id, "--as-of", "2027-02-01", "--json", *d).stdout)
    assert after["status"] == "paid_off" and after["payoff"] == "0.00"
    assert [e["kind"] for e in after["entries"]].count("repayment") == 3
    assert "every invariant holds" in run("loan", "check", *d).stdout
    busy = run("loan", "simulate", "--loans", "3", *d, check=False)
    assert busy.returncode == 1 and "already holds 2 loans" in busy.stderr
    assert "Loans from application to payoff" in run("loan", "--help").stdout


def test_a_year_of_loans_on_the_simulated_clock(population, tmp_path):
    data, when, decisions = population
    planned = plan_portfolio(decisions, POLICY, when.local_date, 40, seed=3)
    assert planned == plan_portfolio(decisions, POLICY, when.local_date, 40, seed=3)  # a scenario is its seed
    assert len({p.user_id for p in planned}) == 40 and {p.behaviour for p in planned} == set(BEHAVIOURS)
    assert all(p.offer.admitted and POLICY.loans.products[p.offer.product_id].min_drawdown <= p.amount <= p.offer.line for p in planned)
    sessions = open_ledger(tmp_path, f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    ledger = LoanBook(sessions, POLICY)
    year = run_year(ledger, planned, when.local_date, months=12)
    loans = pl.DataFrame(year.loans)
    assert loans.height == 40 and year.problems == []
    by = {b: loans.filter(pl.col("behaviour") == b) for b in BEHAVIOURS}
    assert set(by["on_time"]["worst_bucket"]) == {"current"}
    assert set(by["defaulted"]["worst_bucket"]) <= {"M1", "M2", "M3+"}  # every default has missed a due date by the year's end
    written_off = by["defaulted"].filter(pl.col("status") == "written_off")
    assert written_off.height > 0 and set(written_off["worst_bucket"]) == {"M3+"}
    assert set(loans.filter(pl.col("status") == "written_off")["behaviour"]) == {"defaulted"}
    cured = by["overdue_cured"]["worst_bucket"]  # "current": its misses fall after the year's end
    assert set(cured) <= {"current", "M1", "M2"} and (cured != "current").sum() > 0  # cured inside two months: never M3+
    full = {p.user_id for p in planned if p.behaviour == "prepaid" and p.full and p.month < p.term_months}
    status = {loan["user_id"]: loan["status"] for loan in year.loans}
    assert full and all(status[u] == "paid_off" for u in full)
    # The money adds up: every fen disbursed is outstanding, collected or lost.
    snapshot = book_snapshot(ledger)
    balances = snapshot["balances"]
    assert sum(balances.values()) == 0
    collected = balances["cash"] + snapshot["totals"]["disbursed"]  # cash: minus what left, plus what came back
    income = snapshot["totals"]["interest_income"] + snapshot["totals"]["penalty_income"] + snapshot["totals"]["fee_income"]
    receivable = sum(balances[a] for a in ("loans_principal", "interest_receivable", "penalty_receivable", "fee_receivable"))
    assert collected + receivable + snapshot["totals"]["credit_losses"] == snapshot["totals"]["disbursed"] + income
    assert year.calls["drawdown"] == 40 and year.calls["cure"] > 0 and year.calls["prepayment"] > 0
    sessions.kw["bind"].dispose()


def test_a_scenario_mix_must_add_up(population):
    _data, when, decisions = population
    with pytest.raises(ValueError, match="sum to 1"):
        plan_portfolio(decisions, POLICY, when.local_date, 5, seed=1, mix={"on_time": 0.5})


def test_the_ledger_thread_setting_is_checked(monkeypatch):
    from lendguard.api.app import THREADS_ENV, ledger_threads

    monkeypatch.setenv(THREADS_ENV, "8")
    assert ledger_threads() == 8
    for bad in ("0", "-3", "many", "5000"):
        monkeypatch.setenv(THREADS_ENV, bad)
        with pytest.raises(ValueError, match=THREADS_ENV):
            ledger_threads()
    refused = run("serve", "--port", "1", env={THREADS_ENV: "many"}, check=False)
    assert refused.returncode == 2 and THREADS_ENV in refused.stderr
