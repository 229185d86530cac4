"""AU-CS-01..04: consent screens: pre-ticked, bundled, small print, hidden text."""

from __future__ import annotations

from lendguard.audit.findings import Evidence, Finding, finding
from lendguard.audit.target import AuditTarget

RULES = ("AU-CS-01", "AU-CS-02", "AU-CS-03", "AU-CS-04")
PARTS = ("consent",)


def check(target: AuditTarget, policy) -> list[Finding]:
    file, minimum = target.source("consent"), policy.audit.min_consent_font_px
    found = []
    for s, screen in enumerate(target.consent.screens):
        excerpt = screen.text[:60]
        if screen.font_size_px is not None and screen.font_size_px < minimum:
            found.append(finding(
                "AU-CS-03", Evidence(file=file, location=f"screens[{s}].font_size_px", quote=f"{screen.font_size_px:g}px: {excerpt}"),
                f"「{screen.id}」页授权文字{screen.font_size_px:g}px，小于{minimum:g}px。",
                f"The consent text of '{screen.id}' is {screen.font_size_px:g}px, below {minimum:g}px.",
            ))
        if screen.hidden:
            found.append(finding(
                "AU-CS-04", Evidence(file=file, location=f"screens[{s}].hidden", quote=excerpt),
                f"「{screen.id}」页授权文字被隐藏或折叠。", f"The consent text of '{screen.id}' is hidden or folded away.",
            ))
        for c, box in enumerate(screen.checkboxes):
            where = Evidence(file=file, location=f"screens[{s}].checkboxes[{c}]", quote=box.label or box.id)
            if box.default_checked:
                found.append(finding("AU-CS-01", where, f"「{box.label or box.id}」默认已勾选。", f"'{box.label or box.id}' is ticked by default."))
            if len(set(box.purposes)) > 1:
                found.append(finding(
                    "AU-CS-02", where,
                    f"一个勾选项同时授权{len(set(box.purposes))}个目的：{'、'.join(box.purposes)}。",
                    f"One box consents to {len(set(box.purposes))} purposes: {', '.join(box.purposes)}.",
                ))
    return found
