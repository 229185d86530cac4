"""Compliance findings of our own products (`lendguard audit --own`): each product, built from
the policy and the contract templates, audited by every rule; a finding here means the
policy or a template now breaks a rule the risk team must fix."""

from __future__ import annotations

from typing import Any

from lendguard.audit.engine import run_audit
from lendguard.audit.findings import SEVERITY_ORDER
from lendguard.audit.own import own_targets
from lendguard.audit.rules import MODULES
from lendguard.dashboard.section import ok
from lendguard.policy import Policy


def compliance_section(policy: Policy) -> dict[str, Any]:
    targets = own_targets(policy)  # one per product, in the policy's order
    reports = [run_audit(target, policy) for target in targets]
    rules = sum(len(module.RULES) for module in MODULES)
    products = [
        {
            "product_id": product_id,
            "name": policy.loans.products[product_id].name.model_dump(),
            "target": report.target,
            "clean": report.clean,
            "rules_checked": rules - sum(len(n.rules) for n in report.not_checked),
            "counts": report.counts,
            "findings": report.findings,
            "not_checked": [{"rules": n.rules, "missing": n.missing} for n in report.not_checked],
        }
        for product_id, report in zip(policy.loans.products, reports, strict=True)
    ]
    totals = {s: sum(r.counts.get(s, 0) for r in reports) for s in SEVERITY_ORDER}
    return ok(severities=list(SEVERITY_ORDER), rules=rules, totals=totals, findings=sum(totals.values()), products=products)
