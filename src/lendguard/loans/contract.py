"""Contract texts (zh and en) rendered from templates, and the hash that binds them.

The hash covers the machine-readable terms and both texts (canonical JSON, SHA-256):
the contract a borrower signed can later be proven unchanged through the evidence log.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined

from lendguard.evidence.canonical import canonical_json
from lendguard.loans.offers import percent
from lendguard.loans.schedule import Schedule
from lendguard.policy import Policy

METHOD_TEXT = {
    "equal_installment": ("等额本息", "equal installments (principal and interest)"),
    "equal_principal": ("等额本金", "equal principal"),
    "interest_first": ("先息后本", "interest monthly, principal at maturity"),
    "daily_interest": ("按日计息、随借随还", "daily interest, repay any time"),
}
PREPAYMENT_TEXT = {
    "free": ("可随时提前还款，不收取违约金，仅按实际占用天数计息。", "You may prepay at any time without a fee; interest is charged for the days actually used."),
    "remaining_days_interest": (
        "可随时提前还款，需支付所还本金在当期剩余天数的利息。",
        "You may prepay at any time; the prepaid principal bears interest for the remaining days of the current period.",
    ),
}
COMPONENT_TEXT = {"penalty": ("罚息", "penalty interest"), "fee": ("费用", "fees"), "interest": ("利息", "interest"), "principal": ("本金", "principal")}
ROUNDING_TEXT = {"half_up": ("四舍五入", "half up"), "half_even": ("银行家舍入", "half to even"), "down": ("舍去", "down")}

_templates = Environment(loader=PackageLoader("lendguard.loans", "templates"), undefined=StrictUndefined, keep_trailing_newline=True)


@dataclass(frozen=True)
class ContractDocument:
    terms: dict[str, Any]
    text_zh: str
    text_en: str
    sha256: str


def contract_terms(loan_id: str, user_id: str, product_id: str, schedule: Schedule, apr: Decimal, penalty_daily_rate: Decimal, policy: Policy) -> dict[str, Any]:
    """The machine-readable terms (what the texts say, as data)."""
    terms = schedule.terms
    return {
        "loan_id": loan_id,
        "user_id": user_id,
        "lender": policy.loans.lender,
        "product_id": product_id,
        "currency": policy.loans.currency,
        "principal": str(terms.principal),
        "disbursed": str(terms.principal),
        "method": terms.method,
        "term_months": terms.term_months,
        "daily_rate": str(terms.daily_rate),
        "apr": str(apr),
        "penalty_daily_rate": str(penalty_daily_rate),
        "start_date": terms.start.isoformat(),
        "maturity_date": schedule.installments[-1].due_date.isoformat(),
        "total_interest": str(schedule.total_interest),
        "total_fees": str(schedule.total_fees),
        "total_repaid": str(schedule.total_repaid),
        "installments": [
            {"number": i.number, "due_date": i.due_date.isoformat(), "principal": str(i.principal), "interest": str(i.interest), "fee": str(i.fee), "amount": str(i.amount)}
            for i in schedule.installments
        ],
        "policy_version": policy.version,
    }


def render_contract(terms: dict[str, Any], policy: Policy) -> ContractDocument:
    product = policy.loans.products[terms["product_id"]]
    order = policy.loans.allocation_order
    values = {
        **terms,
        "product": product,
        "daily_rate_pct": percent(Decimal(terms["daily_rate"]), 3),
        "apr_pct": percent(Decimal(terms["apr"]), 4),
        "penalty_daily_rate_pct": percent(Decimal(terms["penalty_daily_rate"]), 4),
        "penalty_multiplier": str(product.penalty_multiplier),
        "overdue_fee": str(product.overdue_fee.quantize(policy.loans.minor_unit)),
        "total_fees": terms["total_fees"],
        "method_zh": METHOD_TEXT[terms["method"]][0],
        "method_en": METHOD_TEXT[terms["method"]][1],
        "prepayment_zh": PREPAYMENT_TEXT[product.prepayment][0],
        "prepayment_en": PREPAYMENT_TEXT[product.prepayment][1],
        "allocation_zh": "、".join(COMPONENT_TEXT[c][0] for c in order),
        "allocation_en": ", ".join(COMPONENT_TEXT[c][1] for c in order),
        "rounding_zh": ROUNDING_TEXT[policy.loans.rounding][0],
        "rounding_en": ROUNDING_TEXT[policy.loans.rounding][1],
    }
    text_zh = _templates.get_template("contract_zh.txt.j2").render(values)
    text_en = _templates.get_template("contract_en.txt.j2").render(values)
    return ContractDocument(terms, text_zh, text_en, contract_hash(terms, text_zh, text_en))


def contract_hash(terms: dict[str, Any], text_zh: str, text_en: str) -> str:
    return hashlib.sha256(canonical_json({"terms": terms, "text_zh": text_zh, "text_en": text_en})).hexdigest()
