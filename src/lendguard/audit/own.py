"""Our own products as audit targets, built from the policy and the code that serves them:
the product terms at the worst price a product offers (its highest daily rate, the full
line, the default method and term), the contract our templates render for that drawdown,
the consent screens of our scopes, the permissions our engines' data need, and retention.

Nothing is written by hand here: a change to the policy or to the contract templates shows
up in the self-audit (`lendguard audit --own`), which must be clean.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from lendguard.audit.target import (
    AuditTarget,
    Checkbox,
    Consent,
    Contract,
    Deletion,
    Fee,
    Manifest,
    Permission,
    Product,
    Repayment,
    Retention,
    RetentionCategory,
    Screen,
    TargetInfo,
)
from lendguard.loans.contract import contract_terms, render_contract
from lendguard.loans.offers import price

# The device permission each data category we read comes from, why, and when it is asked.
CATEGORY_PERMISSIONS = {
    "device": [("device_id", "anti_fraud", "launch"), ("location", "anti_fraud", "apply")],
    "identity": [("camera", "identity", "identity")],
    "profile": [("phone_number", "account", "register")],
}
_AUDIT_METHOD = {"equal_installment": "equal_installment", "equal_principal": "equal_principal", "interest_first": "interest_first", "daily_interest": "bullet"}


def own_targets(policy, start: dt.date | None = None) -> list[AuditTarget]:
    start = start or dt.date(2026, 1, 1)
    return [_product_target(product_id, policy, start) for product_id in policy.loans.products]


def _product_target(product_id: str, policy, start: dt.date) -> AuditTarget:
    loans = policy.loans
    product = loans.products[product_id]
    schedule, apr = price(product, loans, product.max_line, product.daily_rate_max, product.default_method, product.default_term_months, start)
    fees = [Fee(name="服务费 service fee", rate=product.service_fee_monthly, charged="monthly")] if product.service_fee_monthly > 0 else []
    terms = Product(
        name=product.name.zh, currency=loans.currency, principal=product.max_line, disbursed=product.max_line,
        term_months=product.default_term_months, method=_AUDIT_METHOD[product.default_method], daily_rate=product.daily_rate_max,
        disclosed_apr=apr, fees=fees,
        schedule=[Repayment(period=i.number if product.default_method != "daily_interest" else product.default_term_months, amount=i.amount - i.fee)
                  for i in schedule.installments],
    )
    penalty = min(product.daily_rate_max * product.penalty_multiplier, loans.caps.penalty_apr / loans.days_per_year)
    document = render_contract(contract_terms(f"audit-{product_id}", "audit-user", product_id, schedule, apr, penalty, policy), policy)
    target = AuditTarget(
        root=Path(f"own/{product_id}"),
        info=TargetInfo(name=f"lendguard {product_id} ({product.name.en})", description="our own product, from the policy", kind="own"),
        product=terms, manifest=_manifest(policy), consent=_consent(policy), retention=_retention(policy),
        contracts=[Contract("contract_zh.txt (rendered)", "zh", document.text_zh), Contract("contract_en.txt (rendered)", "en", document.text_en)],
    )
    target.sources.update({"product": f"policy loans.products.{product_id}", "manifest": "policy consent.categories",
                           "consent": "policy consent.scopes", "retention": "policy consent.categories"})
    return target


def _manifest(policy) -> Manifest:
    permissions = [Permission(name=n, purpose=p, requested_at=s) for c in policy.consent.categories for n, p, s in CATEGORY_PERMISSIONS.get(c, [])]
    purposes = sorted({*policy.consent.purposes, "identity"})
    return Manifest(integration="mini_program", purposes=purposes, permissions=permissions)


def _consent(policy) -> Consent:
    """One screen per scope, asked in layer order; one unticked box per purpose (grants are
    per scope and purpose, so nothing is bundled)."""
    own = policy.audit
    screens = [
        Screen(id=name, stage=None, text=scope.name.zh + " / " + scope.name.en, font_size_px=own.min_consent_font_px + 2, hidden=False,
               checkboxes=[Checkbox(id=f"{name}:{p}", label=policy.consent.purposes[p].zh, purposes=[p]) for p in scope.purposes])
        for name, scope in sorted(policy.consent.scopes.items(), key=lambda item: item[1].layer)
    ]
    return Consent(screens=screens)


def _retention(policy) -> Retention:
    categories = policy.consent.categories
    slowest = max(c.deletion_days_after_withdrawal for c in categories.values())
    return Retention(
        categories={name: RetentionCategory(retention_days=c.retention_days) for name, c in categories.items()},
        deletion=Deletion(path="lendguard consent withdraw; DELETE /v1/users/{id}/consents (then the retention job deletes)", days_after_withdrawal=slowest),
    )
