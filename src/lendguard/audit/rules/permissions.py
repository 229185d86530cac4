"""AU-PM-01..02: permissions beyond the declared purposes or the product's need; asked too early."""

from __future__ import annotations

from lendguard.audit.findings import Evidence, Finding, finding
from lendguard.audit.target import AuditTarget

RULES = ("AU-PM-01", "AU-PM-02")
PARTS = ("manifest",)


def check(target: AuditTarget, policy) -> list[Finding]:
    manifest, file, rules = target.manifest, target.source("manifest"), policy.audit
    stage = {name: k for k, name in enumerate(rules.stages)}
    found = []
    for k, permission in enumerate(manifest.permissions):
        where = Evidence(file=file, location=f"permissions[{k}]", quote=f"{permission.name} for {permission.purpose} at {permission.requested_at}")
        allowed = rules.permissions.get(permission.name)
        if allowed is None:
            problem = ("信贷产品不需要该权限", "a credit product never needs it")
        elif permission.purpose not in manifest.purposes:
            problem = (f"目的「{permission.purpose}」未在声明目的中", f"its purpose '{permission.purpose}' is not among the declared purposes")
        elif permission.purpose not in allowed.purposes:
            problem = (f"该权限只可用于{'、'.join(allowed.purposes)}", f"it may serve only {', '.join(allowed.purposes)}")
        else:
            problem = None
        if problem:
            found.append(finding("AU-PM-01", where, f"索取权限「{permission.name}」：{problem[0]}。", f"Asks for '{permission.name}': {problem[1]}."))
            continue
        if permission.requested_at not in stage:
            found.append(finding("AU-PM-02", where, f"权限「{permission.name}」的申请环节「{permission.requested_at}」未知。",
                                 f"'{permission.name}' is asked at an unknown stage '{permission.requested_at}'."))
        elif stage[permission.requested_at] < stage[allowed.needed_at]:
            found.append(finding(
                "AU-PM-02", where,
                f"权限「{permission.name}」在「{permission.requested_at}」环节申请，而「{allowed.needed_at}」环节才需要。",
                f"'{permission.name}' is asked at '{permission.requested_at}' but needed only from '{allowed.needed_at}'.",
            ))
    return found
