"""Backtest a draft rule on stored events before it goes live (`lendguard fraud test-rule`).

The stored events are replayed in event-time order through an engine holding the live
rules and the draft (a draft with a live rule's id replaces it). The report says how
many users the draft would hit and how many of them also hit another rule in the
replay or already have a stored transition: hits with no other signal are where
false positives hide.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field, replace
from typing import Any

from pydantic import ValidationError

from lendguard.fraud.book import transitions
from lendguard.fraud.engine import FraudEngine, TooLate
from lendguard.fraud.replay import stored_events
from lendguard.policy import Policy
from lendguard.policy.model import FraudPolicy
from lendguard.store.events import EventStore


class DraftRuleError(ValueError):
    """The draft is not a valid rule; the message names each bad field."""


@dataclass
class BacktestReport:
    rule_id: str
    events: int = 0
    hit_users: list[str] = field(default_factory=list)
    with_other_signals: list[str] = field(default_factory=list)
    hits_by_rule: dict[str, int] = field(default_factory=dict)
    first_hits: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        hit = len(self.hit_users)
        return {
            "rule_id": self.rule_id,
            "events_replayed": self.events,
            "users_hit": hit,
            "users_hit_with_other_signals": len(self.with_other_signals),
            "share_with_other_signals": round(len(self.with_other_signals) / hit, 4) if hit else None,
            "users_hit_by_each_rule": self.hits_by_rule,
            "sample": self.first_hits,
        }


def with_draft(policy: Policy, draft: dict[str, Any]) -> Policy:
    """The policy with the draft rule added (or replacing the live rule of the same id)."""
    fraud = policy.fraud.model_dump()
    rules = [r for r in fraud["rules"] if r["id"] != draft.get("id")] + [draft]
    try:
        checked = FraudPolicy.model_validate({**fraud, "rules": rules})
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise DraftRuleError(f"draft rule {draft.get('id', '?')}: {problems}") from exc
    return replace(policy, document=policy.document.model_copy(update={"fraud": checked}))


def backtest(store: EventStore, policy: Policy, draft: dict[str, Any], start: dt.datetime | None = None, end: dt.datetime | None = None) -> BacktestReport:
    trial = with_draft(policy, draft)
    engine = FraudEngine(trial)
    types = ["consent", *{r.event_type for r in trial.fraud.rules if r.enabled}]
    report = BacktestReport(draft["id"])
    users_by_rule: dict[str, set[str]] = defaultdict(set)
    for event in stored_events(store, types, start, end):
        report.events += 1
        try:
            signals = engine.process(event)
        except TooLate:
            continue  # cannot happen in time order; kept for safety
        for signal in signals:
            if signal.rule_id == report.rule_id and signal.user_id not in users_by_rule[signal.rule_id] and len(report.first_hits) < 20:
                report.first_hits.append({"user_id": signal.user_id, "at": signal.at.isoformat(), "key": signal.key, **signal.details})
            users_by_rule[signal.rule_id].add(signal.user_id)
    hit = users_by_rule.get(report.rule_id, set())
    others = set().union(*(u for r, u in users_by_rule.items() if r != report.rule_id)) if len(users_by_rule) > 1 else set()
    stored = {t["user_id"] for t in transitions(store.engine) if t["rule_id"] != report.rule_id}
    report.hit_users = sorted(hit)
    report.with_other_signals = sorted(hit & (others | stored))
    report.hits_by_rule = {r: len(u) for r, u in sorted(users_by_rule.items())}
    return report
