"""AU-CH-01..02: partners without a licence for a region they work in; undisclosed controllers."""

from __future__ import annotations

from lendguard.audit.findings import Evidence, Finding, finding
from lendguard.audit.target import AuditTarget

RULES = ("AU-CH-01", "AU-CH-02")
PARTS = ("partners",)
NATIONWIDE = "*"


def check(target: AuditTarget, policy) -> list[Finding]:
    file, kinds_by_role = target.source("partners"), policy.audit.licences
    found = []
    for k, partner in enumerate(target.partners.partners):
        kinds = kinds_by_role.get(partner.role, [])
        if kinds:
            covered = {r for lic in partner.licences if lic.kind in kinds for r in lic.regions}
            regions = partner.regions or target.info.regions
            missing = [] if NATIONWIDE in covered else [r for r in regions if r not in covered]
            if missing:
                found.append(finding(
                    "AU-CH-01", Evidence(file=file, location=f"partners[{k}]", quote=f"{partner.name} ({partner.role}) in {', '.join(missing)}"),
                    f"合作方「{partner.name}」（{partner.role}）在{'、'.join(missing)}无{'/'.join(kinds)}牌照。",
                    f"Partner '{partner.name}' ({partner.role}) holds no {' / '.join(kinds)} licence for {', '.join(missing)}.",
                ))
        if not (partner.controller or "").strip():
            found.append(finding(
                "AU-CH-02", Evidence(file=file, location=f"partners[{k}].controller", quote=partner.name),
                f"合作方「{partner.name}」未披露实际控制人。", f"Partner '{partner.name}' does not disclose its controller.",
            ))
    return found
