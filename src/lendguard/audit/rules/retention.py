"""AU-RT-01..02: retention beyond the policy; no deletion path or slow deletion."""

from __future__ import annotations

from lendguard.audit.findings import Evidence, Finding, finding
from lendguard.audit.target import AuditTarget

RULES = ("AU-RT-01", "AU-RT-02")
PARTS = ("retention",)


def check(target: AuditTarget, policy) -> list[Finding]:
    retention, file = target.retention, target.source("retention")
    limits = {name: c.retention_days for name, c in policy.consent.categories.items()}
    found = []
    for name, category in retention.categories.items():
        limit = limits.get(name, policy.audit.default_retention_days)
        if category.retention_days > limit:
            found.append(finding(
                "AU-RT-01", Evidence(file=file, location=f"categories.{name}.retention_days", quote=str(category.retention_days)),
                f"「{name}」保存{category.retention_days}天，超过{limit}天。", f"'{name}' is kept {category.retention_days} days, beyond {limit}.",
            ))
    deletion, most = retention.deletion, policy.audit.max_deletion_days
    if not (deletion.path or "").strip():
        found.append(finding("AU-RT-02", Evidence(file=file, location="deletion.path", quote="(absent)"),
                             "没有用户可发起的删除途径。", "There is no way for a user to have their data deleted."))
    elif deletion.days_after_withdrawal is None or deletion.days_after_withdrawal > most:
        days = deletion.days_after_withdrawal
        found.append(finding(
            "AU-RT-02", Evidence(file=file, location="deletion.days_after_withdrawal", quote=str(days)),
            f"撤回后删除期限{'未说明' if days is None else f'为{days}天'}，应不超过{most}天。",
            f"Deletion after a withdrawal takes {'an unstated time' if days is None else f'{days} days'}; at most {most} are allowed.",
        ))
    return found
