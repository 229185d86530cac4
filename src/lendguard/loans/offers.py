"""One user's offers: per product, admitted or not (with reasons and advice), the line,
the daily rate, and the price disclosed as the contract would show it (APR by IRR).

The admission, line and rate come from `admission.py`'s expressions; this module turns
one user's row into documents and prices the product's default drawdown (the full line,
the default method and term). A price above the offer cap is refused here, at offer
time; a drawdown is priced and capped again when its contract is made.
"""

from __future__ import annotations

import datetime as dt
import math
import tomllib
from decimal import Decimal
from functools import cache
from importlib import resources
from typing import Any

import polars as pl
from pydantic import BaseModel

from lendguard.loans.admission import Check, admission_frame, checks_of
from lendguard.loans.apr import apr_of
from lendguard.loans.money import MoneyRules
from lendguard.loans.schedule import Schedule, Terms, build_schedule
from lendguard.policy import Policy
from lendguard.policy.loans import LoanPolicy, Method, Product


class Text(BaseModel):
    zh: str
    en: str


class Reason(BaseModel):
    code: str
    value: Any = None
    threshold: Any = None
    gap: Any = None
    reason: Text
    advice: Text


class InstallmentOut(BaseModel):
    number: int
    due_date: dt.date
    principal: Decimal
    interest: Decimal
    fee: Decimal
    amount: Decimal


class Pricing(BaseModel):
    """What the contract of a drawdown discloses (the APR is the IRR of these flows)."""

    principal: Decimal
    disbursed: Decimal  # always the principal: no interest or fee is ever withheld
    method: Method
    term_months: int
    daily_rate: Decimal
    apr: Decimal  # a fraction: 0.18 is 18%
    total_interest: Decimal
    total_fees: Decimal
    total_repaid: Decimal
    fees: list[dict[str, Any]]
    installments: list[InstallmentOut]


class Offer(BaseModel):
    product_id: str
    name: Text
    admitted: bool
    line: Decimal
    daily_rate: Decimal
    apr: Decimal | None = None
    summary: Text
    reasons: list[Reason] = []
    notes: list[Text] = []
    pricing: Pricing | None = None
    # The learned score that set part of the line and price, when the product weighs it.
    credit_score: float | None = None


class PriceCapError(ValueError):
    """A price above the policy's legal cap."""

    def __init__(self, code: str, apr: Decimal, cap: Decimal):
        super().__init__(f"APR {percent(apr)} is above the cap of {percent(cap)} ({code})")
        self.code, self.apr, self.cap = code, apr, cap


@cache
def texts() -> dict[str, Any]:
    return tomllib.loads(resources.files("lendguard.loans").joinpath("texts.toml").read_text(encoding="utf-8"))


def percent(rate: Decimal, places: int = 2) -> str:
    return f"{rate * 100:.{places}f}%"


def _text(entry: dict[str, str], **values: Any) -> Text:
    return Text(zh=entry["zh"].format(**values), en=entry["en"].format(**values))


def price(product: Product, loans: LoanPolicy, principal: Decimal, daily_rate: Decimal, method: Method, term_months: int, start: dt.date) -> tuple[Schedule, Decimal]:
    """The schedule and APR of a drawdown on `product`'s terms."""
    terms = Terms(principal, term_months, method, daily_rate, start, product.service_fee_monthly)
    schedule = build_schedule(terms, MoneyRules.of(loans), loans.days_per_month, loans.days_per_year)
    return schedule, apr_of(schedule)


def refusing_caps(loans: LoanPolicy) -> list[tuple[str, Decimal]]:
    """The APR limits that refuse a price, in order: LN08 the offer cap; LN09 the judicial
    ceiling, when the policy makes it refuse. One list for offers, drawdowns and populations."""
    caps = loans.caps
    limits = [("LN08", caps.offer_apr)]
    if caps.judicial_ceiling_refuses:
        limits.append(("LN09", caps.judicial_ceiling))
    return limits


def cap_violation(apr: Decimal, loans: LoanPolicy) -> PriceCapError | None:
    """The first cap an APR breaks, if any."""
    for code, cap in refusing_caps(loans):
        if apr > cap:
            return PriceCapError(code, apr, cap)
    return None


def pricing_of(schedule: Schedule, apr: Decimal) -> Pricing:
    fees = [{"kind": "service_fee", "per_installment": str(schedule.installments[0].fee), "total": str(schedule.total_fees)}] if schedule.total_fees else []
    return Pricing(
        principal=schedule.terms.principal, disbursed=schedule.terms.principal, method=schedule.terms.method,
        term_months=schedule.terms.term_months, daily_rate=schedule.terms.daily_rate, apr=apr,
        total_interest=schedule.total_interest, total_fees=schedule.total_fees, total_repaid=schedule.total_repaid,
        fees=fees,
        installments=[
            InstallmentOut(number=i.number, due_date=i.due_date, principal=i.principal, interest=i.interest, fee=i.fee, amount=i.amount)
            for i in schedule.installments
        ],
    )


def _reason(check: Check, row: dict[str, Any], policy: Policy) -> Reason:
    entry = texts()[check.code]
    value, threshold = row.get(check.measure), check.threshold
    if check.code == "LN00":
        return Reason(code="LN00", reason=_text(entry["reason"]), advice=_text(entry["advice"]))
    if value is None and "missing" in entry:
        return Reason(code=check.code, threshold=threshold, reason=_text(entry["missing"], threshold=threshold), advice=_text(entry["advice_missing"], threshold=threshold))
    value = 0 if value is None else value
    if check.code == "LN02":  # days until the real-name age is strictly above the threshold
        gap = math.floor((float(threshold) - float(value)) * policy.windows.days_per_month) + 1
    elif check.code == "LN01":
        gap = int(threshold) - int(value)
    elif check.code == "LN06":
        gap = Decimal(str(threshold)) - Decimal(str(value))
    else:
        gap = math.ceil((float(threshold) - float(value)) * 10 - 1e-9) / 10
    fill = {"value": value, "threshold": threshold, "gap": gap}
    return Reason(code=check.code, value=value, threshold=threshold, gap=gap, reason=_text(entry["reason"], **fill), advice=_text(entry["advice"], **fill))


def offer_of(product_id: str, row: dict[str, Any], policy: Policy, today: dt.date) -> Offer:
    """One product's offer for one user's admission row (see `admission_frame`)."""
    loans = policy.loans
    product = loans.products[product_id]
    line = Decimal(row[f"{product_id}__line_units"]) * product.line_step
    daily_rate = Decimal(row[f"{product_id}__rate_units"]) * product.rate_step
    reasons = [_reason(check, row, policy) for check in checks_of(product) if not row[f"{product_id}__{check.code}"]]
    if line < product.min_line:
        fill = {"value": line, "threshold": product.min_line, "gap": product.min_line - line}
        entry = texts()["LN07"]
        reasons.append(Reason(code="LN07", **fill, reason=_text(entry["reason"], **fill), advice=_text(entry["advice"], **fill)))
    # The price is disclosed for the full line (or the minimum, when the line is short).
    schedule, apr = price(product, loans, max(line, product.min_line), daily_rate, product.default_method, product.default_term_months, today)
    notes = []
    violation = cap_violation(apr, loans)
    if violation is not None:
        entry = texts()[violation.code]
        fill = {"value_pct": percent(apr), "threshold_pct": percent(violation.cap)}
        reasons.append(Reason(code=violation.code, value=apr, threshold=violation.cap, reason=_text(entry["reason"], **fill), advice=_text(entry["advice"], **fill)))
    elif apr > loans.caps.judicial_ceiling:
        notes.append(_text(texts()["notes"]["judicial"], apr_pct=percent(apr), ceiling_pct=percent(loans.caps.judicial_ceiling)))
    admitted = not reasons
    name = Text(zh=product.name.zh, en=product.name.en)
    if admitted:
        summary = _text(texts()["summary"]["admitted"], product_zh=name.zh, product_en=name.en, line=line, daily_rate_pct=percent(daily_rate, 3), apr_pct=percent(apr))
    else:
        summary = _text(texts()["summary"]["refused"], product_zh=name.zh, product_en=name.en, count=len(reasons))
    return Offer(
        product_id=product_id, name=name, admitted=admitted, line=line if admitted else Decimal(0), daily_rate=daily_rate,
        apr=apr, summary=summary, reasons=reasons, notes=notes, pricing=pricing_of(schedule, apr) if admitted else None,
        credit_score=row.get("credit_score") if product.line_weights.credit_score > 0 else None,
    )


def offers_for(decision: pl.DataFrame, policy: Policy, today: dt.date) -> list[Offer]:
    """Every product's offer for one user, from the user's visibility decision (one row)."""
    row = admission_frame(decision, policy).row(0, named=True)
    return [offer_of(product_id, row, policy, today) for product_id in policy.loans.products]
