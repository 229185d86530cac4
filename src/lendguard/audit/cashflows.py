"""The borrower's cash flows of a product's terms, and their APR by IRR.

Period 0 is what the borrower receives (the disbursement, less upfront fees paid on the
day and not withheld); each month after, the instalment and the monthly fees; the last
month also the fees due at maturity. A stated `schedule` replaces the computed
instalments. APR = monthly IRR x 12, as PBoC Announcement [2021] No. 3 defines it.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from lendguard.audit.target import Product
from lendguard.loans.apr import AprError, irr_per_period

CENT = Decimal("0.01")


def _cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def instalments(product: Product) -> list[Decimal]:
    """The repayments, month 1 to term (the last takes the rounding)."""
    if product.schedule is not None:
        flows = [Decimal(0)] * max([product.term_months, *(r.period for r in product.schedule)])
        for repayment in product.schedule:
            flows[repayment.period - 1] += repayment.amount
        return flows
    principal, n = product.principal, product.term_months
    r = product.nominal_annual_rate / 12
    if product.method == "bullet":
        return [Decimal(0)] * (n - 1) + [_cents(principal * (1 + r * n))]
    if product.method == "interest_first":
        interest = _cents(principal * r)
        return [interest] * (n - 1) + [principal + interest]
    if product.method == "equal_principal":
        part = _cents(principal / n)
        flows, left = [], principal
        for k in range(n):
            paid = part if k < n - 1 else left
            flows.append(paid + _cents(left * r))
            left -= paid
        return flows
    if r == 0:
        payment = _cents(principal / n)
    else:
        payment = _cents(principal * r / (1 - (1 + r) ** -n))
    flows, left = [], principal
    for k in range(n):
        interest = _cents(left * r)
        paid = payment - interest if k < n - 1 else left
        flows.append(paid + interest)
        left -= paid
    return flows


def cash_flows(product: Product) -> list[Decimal]:
    """The borrower's flows: + what they receive at period 0, - what they pay each month."""
    repayments = instalments(product)
    flows = [product.amount_disbursed] + [-amount for amount in repayments]
    for fee in product.fees:
        money = fee.money(product.principal)
        if fee.withheld and product.disbursed is not None:
            continue  # already missing from the stated `disbursed`; counting it again would double it
        if fee.charged == "upfront":
            flows[0] -= money
        elif fee.charged == "monthly":
            for k in range(1, len(flows)):
                flows[k] -= money
        else:
            flows[-1] -= money
    return flows


def apr(product: Product) -> Decimal | None:
    """The APR the flows imply (None when they have no IRR)."""
    try:
        return (Decimal(repr(irr_per_period(cash_flows(product)))) * 12).quantize(Decimal("0.000001"))
    except AprError:
        return None
