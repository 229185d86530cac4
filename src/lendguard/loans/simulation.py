"""A year of a loan book on the simulated clock: a cohort of admitted users borrows on its
offers, then each loan repays on time, is prepaid, falls overdue and is cured, or stops
paying and is written off. Every step goes through the loan book (the same calls as the
CLI and the API, with idempotency keys), so the year ends in a real ledger whose balances
and invariants the demo reports.

The behaviours are a scenario, not policy: the mix and the seed are parameters of the run.
"""

from __future__ import annotations

import datetime as dt
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl

from lendguard.loans.admission import admission_frame, checks_of
from lendguard.loans.book import LedgerError, LoanBook
from lendguard.loans.offers import Offer, offer_of
from lendguard.loans.portfolio import book_snapshot
from lendguard.loans.schedule import add_months
from lendguard.policy import Policy

BEHAVIOURS = ("on_time", "prepaid", "overdue_cured", "defaulted")  # defaulted: stops paying, written off past the limit
DRAW, PREPAY = -1, 0  # calendar actions besides installment numbers (1, 2, ...)
DEFAULT_MIX = {"on_time": 0.55, "prepaid": 0.2, "overdue_cured": 0.15, "defaulted": 0.10}


@dataclass(frozen=True)
class PlannedLoan:
    """One borrower's year: the drawdown and how the loan is repaid.

    `month` is the installment after which the behaviour starts: the prepayment follows it,
    the cure's missed installments or the default's unpaid ones come after it. Late defaults
    and late misses are still delinquent when the year ends, as in a live book."""

    offer: Offer
    user_id: str
    amount: Decimal
    term_months: int
    behaviour: str
    start_day: int = 0  # days after the simulation's start when the loan is drawn
    month: int = 0
    missed: int = 0  # overdue_cured: installments missed before the cure
    full: bool = True  # prepaid: the whole loan, or a part of the principal


@dataclass
class PortfolioYear:
    start: dt.date
    end: dt.date
    loans: list[dict[str, Any]]  # per loan: id, product, behaviour, status, worst bucket
    snapshot: dict[str, Any]  # the book at the end (`portfolio.book_snapshot`)
    seconds: float
    calls: Counter = field(default_factory=Counter)

    @property
    def problems(self) -> list[str]:
        return self.snapshot["problems"]

    def to_json(self) -> dict[str, Any]:
        """What the report shows of the run (`portfolio_year.json`)."""
        return {
            "start": self.start.isoformat(), "end": self.end.isoformat(), "seconds": round(self.seconds, 2), "calls": dict(self.calls),
            "outcomes": [{**row, "principal": str(row["principal"])} for row in self.outcomes().iter_rows(named=True)],
        }

    def outcomes(self) -> pl.DataFrame:
        """Behaviour x final status: loans, principal, and the worst bucket any of them reached."""
        frame = pl.DataFrame(self.loans)
        return (
            frame.group_by("behaviour", "status")
            .agg(pl.len().alias("loans"), pl.col("worst_bucket").sort_by("worst_rank").last().alias("worst_bucket"), pl.col("principal").sum().alias("principal"))
            .sort("behaviour", "status")
        )


def plan_portfolio(
    decisions: pl.DataFrame, policy: Policy, today: dt.date, count: int, seed: int, mix: dict[str, float] | None = None, draw_days: int = 90
) -> list[PlannedLoan]:
    """`count` loans to admitted (user, product) offers, at most one per user, chosen and
    shaped by `seed`: a share of the line, a 12-month term where the product has one, drawn
    on a day among the first `draw_days` of the year."""
    mix = mix or DEFAULT_MIX
    unknown = set(mix) - set(BEHAVIOURS)
    if unknown or not mix or abs(sum(mix.values()) - 1) > 1e-9:
        raise ValueError(f"the behaviour mix must give shares of {BEHAVIOURS} that sum to 1, not {mix}")
    rng = np.random.default_rng(seed)
    frame = admission_frame(decisions, policy)
    products = policy.loans.products
    candidates: list[tuple[int, str]] = []
    for product_id in products:
        passes = [pl.col(f"{product_id}__{check.code}") for check in checks_of(products[product_id])]
        admitted = frame.select(pl.all_horizontal(passes).alias("ok"))["ok"].to_numpy()
        candidates += [(int(i), product_id) for i in np.flatnonzero(admitted)]
    order = rng.permutation(len(candidates))
    names, shares = list(mix), np.array(list(mix.values()))
    planned: list[PlannedLoan] = []
    taken: set[int] = set()
    for index in order:
        row_index, product_id = candidates[index]
        if row_index in taken:
            continue
        product = products[product_id]
        row = frame.row(row_index, named=True)
        offer = offer_of(product_id, row, policy, today)
        if not offer.admitted:
            continue
        taken.add(row_index)
        term = 12 if 12 in product.terms_months else product.default_term_months
        share = Decimal(str(round(rng.uniform(0.2, 0.8), 2)))
        amount = max(product.min_drawdown, (offer.line * share).quantize(Decimal(100), rounding=ROUND_DOWN))
        behaviour = names[rng.choice(len(names), p=shares)]
        planned.append(PlannedLoan(
            offer=offer, user_id=row["user_id"], amount=min(amount, offer.line), term_months=term, behaviour=behaviour, start_day=int(rng.integers(0, draw_days)),
            month=int(rng.integers(0, 6) if behaviour == "defaulted" else rng.integers(2, 10)), missed=int(rng.integers(1, 3)), full=bool(rng.random() < 0.6),
        ))
        if len(planned) == count:
            break
    return planned


class _Clock:
    """Value times on the simulated calendar: 10:00 policy time on a business day."""

    def __init__(self, zone: str):
        self.zone = ZoneInfo(zone)

    def at(self, day: dt.date) -> dt.datetime:
        return dt.datetime.combine(day, dt.time(10), tzinfo=self.zone)


def run_year(
    book: LoanBook, planned: list[PlannedLoan], start: dt.date, months: int = 12, eod_every_days: int = 7,
    progress: Callable[[int, int], None] | None = None, run_id: str = "sim",
) -> PortfolioYear:
    """Drive the calendar day by day from `start` for `months`: each planned loan drawn on
    its day, its actions on its due dates, and the end-of-day job (accrual, ageing, write-off
    past the policy's limit) every `eod_every_days` days and on the last day."""
    clock = _Clock(book.policy.timezone)
    began = time.perf_counter()
    calls: Counter = Counter()
    end = add_months(start, months)
    actions: dict[dt.date, list[tuple[str, int, PlannedLoan]]] = defaultdict(list)
    for n, plan in enumerate(planned):
        actions[start + dt.timedelta(days=plan.start_day)].append((f"{run_id}/{n}", DRAW, plan))
    loans: dict[str, PlannedLoan] = {}
    worst: dict[str, str] = {}
    rank = {"current": 0, **{b.name: i + 1 for i, b in enumerate(book.loans_policy.delinquency_buckets)}}
    total_days = (end - start).days
    for offset in range(total_days + 1):
        day = start + dt.timedelta(days=offset)
        for name, number, plan in actions.pop(day, []):
            if number == DRAW:
                loan_id, dues = _draw(book, clock, plan, name, day)
                calls["drawdown"] += 1
                loans[loan_id], worst[loan_id] = plan, "current"
                for k, due in enumerate(dues, start=1):
                    actions[due].append((loan_id, k, plan))
                if plan.behaviour == "prepaid" and plan.month < len(dues):
                    actions[dues[plan.month - 1] + dt.timedelta(days=10)].append((loan_id, PREPAY, plan))
            else:
                _act(book, clock, name, plan, number, day, run_id, calls)
        if (offset and offset % eod_every_days == 0) or day == end:
            book.accrue(day)
            calls["end_of_day"] += 1
            for loan_id, bucket in book.buckets().items():
                if loan_id in worst and rank.get(bucket, 0) > rank[worst[loan_id]]:
                    worst[loan_id] = bucket
        if progress:
            progress(offset, total_days)
    final = {loan_id: book.loan(loan_id) for loan_id in loans}
    return PortfolioYear(
        start=start, end=end,
        loans=[
            {
                "loan_id": loan_id, "user_id": plan.user_id, "product_id": plan.offer.product_id, "behaviour": plan.behaviour, "status": final[loan_id]["status"],
                "worst_bucket": worst[loan_id], "worst_rank": rank[worst[loan_id]], "principal": Decimal(final[loan_id]["principal"]),
            }
            for loan_id, plan in loans.items()
        ],
        snapshot=book_snapshot(book), seconds=time.perf_counter() - began, calls=calls,
    )


def _draw(book: LoanBook, clock: _Clock, plan: PlannedLoan, name: str, day: dt.date) -> tuple[str, list[dt.date]]:
    """The user's line (opened on their offer when there is none), then the drawdown."""
    at = clock.at(day)
    drawn = book.apply(
        plan.user_id, plan.offer.product_id, lambda line_key: book.open_line(plan.offer, plan.user_id, line_key, at), plan.amount, plan.term_months, None, name, at
    )
    return drawn["loan_id"], [dt.date.fromisoformat(i["due_date"]) for i in drawn["terms"]["installments"]]


def _act(book: LoanBook, clock: _Clock, loan_id: str, plan: PlannedLoan, number: int, day: dt.date, run_id: str, calls: Counter) -> None:
    """One loan's step on a day: installment `number` falls due, or the prepayment day."""
    at = clock.at(day)
    quote = book.quote(loan_id, at)
    if quote["status"] != "active":
        return
    key = f"{run_id}/{loan_id}/{day.isoformat()}/{number}"
    if number == PREPAY:  # prepaid: the whole loan, or what is due plus part of the principal
        if plan.full:
            amount = Decimal(quote["payoff"])
        else:
            outstanding = Decimal(book.loan(loan_id)["balances"]["principal"])
            amount = min(Decimal(quote["payoff"]), Decimal(quote["due"]) + (outstanding / 2).quantize(Decimal(100), rounding=ROUND_DOWN))
        _repay(book, loan_id, amount, key, at, calls, "prepayment")
        return
    if plan.behaviour == "defaulted" and number > plan.month:
        return  # stopped paying: the end-of-day job writes the loan off past the limit
    if plan.behaviour == "overdue_cured" and plan.month < number <= plan.month + plan.missed:
        return  # missed; the next due date pays everything overdue with its penalty
    _repay(book, loan_id, Decimal(quote["due"]), key, at, calls, "cure" if plan.behaviour == "overdue_cured" and number == plan.month + plan.missed + 1 else "installment")


def _repay(book: LoanBook, loan_id: str, amount: Decimal, key: str, at: dt.datetime, calls: Counter, kind: str) -> None:
    if amount <= 0:
        return
    try:
        book.repay(loan_id, amount, key, at)
    except LedgerError as exc:  # a scenario that asks for the impossible is a bug in the scenario
        raise RuntimeError(f"simulated {kind} of {amount} on {loan_id} refused: {exc} [{exc.code}]") from exc
    calls[kind] += 1
