"""AU-CO-01..03: collection messages that threaten, insult or humiliate; that go to or
name third parties; that are sent at night."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from lendguard.audit.collection_classifier import trained
from lendguard.audit.findings import Evidence, Finding, finding
from lendguard.audit.target import AuditTarget

RULES = ("AU-CO-01", "AU-CO-02", "AU-CO-03")
PARTS = ("collection",)
_WORDS = {"threat": ("威胁", "threatens"), "insult": ("侮辱", "insults"), "humiliation": ("羞辱", "humiliates"), "third_party": ("牵涉第三方", "involves third parties")}


def check(target: AuditTarget, policy) -> list[Finding]:
    file, limits = target.source("collection"), policy.audit.collection
    messages = target.collection.messages
    verdicts = trained().classify([m.text for m in messages], limits.min_classifier_probability)
    found = []
    for k, (message, verdict) in enumerate(zip(messages, verdicts, strict=True)):
        where = Evidence(file=file, location=f"messages[{k}] ({message.id})", quote=message.text)
        abusive = [c for c in verdict.categories if c != "third_party"]
        if abusive:
            zh = "、".join(_WORDS[c][0] for c in abusive)
            en = ", ".join(_WORDS[c][1] for c in abusive)
            phrases = [verdict.matched[c] for c in abusive if verdict.matched.get(c)]
            found.append(finding("AU-CO-01", where, f"催收信息涉及{zh}{'（「' + '」「'.join(phrases) + '」）' if phrases else ''}。",
                                 f"The message {en}{' (' + '; '.join(repr(p) for p in phrases) + ')' if phrases else ''}."))
        if message.recipient != "borrower" or "third_party" in verdict.categories:
            who = message.recipient if message.recipient != "borrower" else "the borrower's contacts"
            found.append(finding("AU-CO-02", where, f"催收信息发给或涉及第三方（{who}）。", f"The message goes to, or brings in, a third party ({who})."))
        hour = _local_hour(message, policy.timezone)
        if hour is not None and not limits.first_hour <= hour < limits.last_hour:
            found.append(finding("AU-CO-03", where, f"发送时间为当地{hour}点，不在{limits.first_hour}:00–{limits.last_hour}:00之间。",
                                 f"Sent at {hour}:00 local time, outside {limits.first_hour}:00-{limits.last_hour}:00."))
    return found


def _local_hour(message, timezone: str) -> int | None:
    """The hour on the recipient's clock: the time's own offset, else the policy's zone."""
    if message.sent_at is None:
        return message.send_hour
    moment = message.sent_at if message.sent_at.tzinfo else message.sent_at.replace(tzinfo=ZoneInfo(timezone))
    return moment.hour
