"""Run every rule over a target: the findings, and which rules could not be checked."""

from __future__ import annotations

from pydantic import BaseModel

from lendguard.audit.findings import SEVERITY_ORDER, Finding
from lendguard.audit.rules import MODULES
from lendguard.audit.target import PART_FILES, AuditTarget


class NotChecked(BaseModel):
    rules: list[str]
    missing: list[str]  # the parts the rules read


class AuditReport(BaseModel):
    target: str
    kind: str
    policy_version: str
    parts: list[str]
    findings: list[Finding]
    not_checked: list[NotChecked]
    counts: dict[str, int]  # per severity

    @property
    def clean(self) -> bool:
        return not self.findings

    def rules_found(self) -> set[str]:
        return {f.rule for f in self.findings}


def run_audit(target: AuditTarget, policy) -> AuditReport:
    findings: list[Finding] = []
    not_checked: list[NotChecked] = []
    for module in MODULES:
        missing = [p for p in module.PARTS if not target.present(p)]
        if missing:
            not_checked.append(NotChecked(rules=list(module.RULES), missing=missing))
            continue
        findings += module.check(target, policy)
    findings.sort(key=lambda f: (SEVERITY_ORDER.index(f.severity), f.rule, f.evidence.file, f.evidence.location or ""))
    parts = [p for p in PART_FILES if p != "info" and target.present(p)]
    counts = {s: sum(1 for f in findings if f.severity == s) for s in SEVERITY_ORDER}
    return AuditReport(target=target.name, kind=target.info.kind, policy_version=policy.version, parts=parts,
                       findings=findings, not_checked=not_checked, counts=counts)
