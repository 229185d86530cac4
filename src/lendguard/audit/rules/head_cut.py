"""AU-HC-01..02: head-cut interest (砍头息): less disbursed than the principal, fees withheld."""

from __future__ import annotations

from lendguard.audit.findings import Evidence, Finding, finding
from lendguard.audit.target import AuditTarget

RULES = ("AU-HC-01", "AU-HC-02")
PARTS = ("product",)


def check(target: AuditTarget, policy) -> list[Finding]:
    product, file = target.product, target.source("product")
    found = []
    if product.amount_disbursed < product.principal:
        gap = product.principal - product.amount_disbursed
        found.append(finding(
            "AU-HC-01", Evidence(file=file, location="disbursed", quote=f"principal {product.principal}, disbursed {product.amount_disbursed}"),
            f"合同本金{product.principal}元，实际放款{product.amount_disbursed}元，预扣{gap}元。",
            f"The contract principal is {product.principal} but {product.amount_disbursed} is disbursed: {gap} kept back.",
        ))
    for k, fee in enumerate(product.fees):
        if fee.withheld:
            money = fee.money(product.principal)
            found.append(finding(
                "AU-HC-02", Evidence(file=file, location=f"fees[{k}].withheld", quote=f"{fee.name}: {money}"),
                f"费用「{fee.name}」{money}元在放款时预先扣除。",
                f"The fee '{fee.name}' ({money}) is withheld from the disbursement.",
            ))
    return found
