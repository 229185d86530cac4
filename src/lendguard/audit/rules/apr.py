"""AU-APR-01..03: the APR is disclosed, equals the IRR of the cash flows, and is within the cap."""

from __future__ import annotations

from lendguard.audit.cashflows import apr as true_apr
from lendguard.audit.findings import Evidence, Finding, finding, pct
from lendguard.audit.target import AuditTarget

RULES = ("AU-APR-01", "AU-APR-02", "AU-APR-03")
PARTS = ("product",)


def check(target: AuditTarget, policy) -> list[Finding]:
    product, file = target.product, target.source("product")
    found = []
    actual = true_apr(product)
    if product.disclosed_apr is None:
        found.append(finding("AU-APR-01", Evidence(file=file, location="disclosed_apr", quote="(absent)"),
                             "产品未披露年化利率。", "The product discloses no APR."))
    elif actual is not None and abs(product.disclosed_apr - actual) > policy.audit.apr_tolerance:
        found.append(finding(
            "AU-APR-02", Evidence(file=file, location="disclosed_apr", quote=str(product.disclosed_apr)),
            f"披露的年化利率{pct(product.disclosed_apr)}，按现金流IRR计算为{pct(actual)}。",
            f"The disclosed APR is {pct(product.disclosed_apr)}; the IRR of the cash flows gives {pct(actual)}.",
        ))
    cap = policy.loans.caps.offer_apr
    if actual is not None and actual > cap:
        found.append(finding(
            "AU-APR-03", Evidence(file=file, location="annual_rate / fees", quote=f"APR {pct(actual)}"),
            f"按IRR计算的年化利率{pct(actual)}，超过上限{pct(cap)}。",
            f"The APR by IRR is {pct(actual)}, above the cap of {pct(cap)}.",
        ))
    return found
