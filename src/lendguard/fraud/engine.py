"""The streaming fraud engine: events in, signals out, in event time, with consent applied.

Pure state, no I/O: the runner (`fraud/runner.py`) feeds it decoded events, stores the
signals' transitions and checkpoints its `state` with the stream offset. The engine
only lets a rule see an event when the user's grants cover the event's data category
for the engine's purpose (the streaming form of the data gate), and it refuses events
later than the policy's tolerance behind the newest event time seen.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from lendguard.events.schema import Consent
from lendguard.fraud.rules import EPOCH, US, Evaluator, evaluator_for
from lendguard.fraud.signals import Signal
from lendguard.policy import Policy


class TooLate(ValueError):
    """An event older than the lateness tolerance allows (it is dead-lettered, not applied)."""


@dataclass
class EngineState:
    """Everything the engine remembers between events (what a checkpoint saves)."""

    rules: dict[str, Any] = field(default_factory=dict)  # rule id -> RuleState
    newest_us: int | None = None
    grants: dict[str, set[str]] = field(default_factory=dict)  # user -> scopes granting the purpose
    flagged: set[str] = field(default_factory=set)
    withheld: Counter = field(default_factory=Counter)  # events a grant did not cover, per type
    read: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))  # category -> users read
    levels: dict[str, Any] = field(default_factory=dict)  # user -> book.Held, the risk book's record


class FraudEngine:
    """Applies the policy's enabled rules to each event."""

    def __init__(self, policy: Policy, state: EngineState | None = None):
        fraud = policy.fraud
        self.policy = policy
        self.purpose = fraud.purpose
        self.lateness_us = fraud.lateness_seconds * US
        self.evaluators: dict[str, list[Evaluator]] = defaultdict(list)
        self.state = state or EngineState()
        for rule in fraud.rules:
            if not rule.enabled:
                continue
            evaluator = evaluator_for(rule, self.lateness_us)
            if rule.id in self.state.rules:
                evaluator.state = self.state.rules[rule.id]
            self.state.rules[rule.id] = evaluator.state
            self.evaluators[rule.event_type].append(evaluator)
        self.flag_levels = {level for rule in fraud.rules if rule.kind == "flagged_link" for level in rule.flagged_levels}
        # Which scopes' grants (for the engine's purpose) unlock each event type's rows.
        self.category_of: dict[str, str] = {}
        self.scopes_for: dict[str, set[str]] = {}
        for name, category in policy.consent.categories.items():
            for event_type in category.event_types:
                self.category_of[event_type] = name
                self.scopes_for[event_type] = {category.scope}
        self._is_flagged = self.state.flagged.__contains__

    # ---- seeding ------------------------------------------------------------------------------
    def grant(self, user_id: str, scope: str) -> None:
        self.state.grants.setdefault(user_id, set()).add(scope)

    def flag(self, accounts: set[str] | list[str]) -> None:
        self.state.flagged.update(accounts)

    # ---- the stream ---------------------------------------------------------------------------
    def process(self, event: Any) -> list[Signal]:
        """The signals of one event; raises TooLate beyond the tolerance."""
        state = self.state
        if type(event) is Consent:
            self._consent(event)  # grants apply on arrival, whatever their time
            return []
        since = event.ts - EPOCH
        t = (since.days * 86_400 + since.seconds) * US + since.microseconds  # micros(), inlined: hot path
        newest = state.newest_us
        if newest is not None and t < newest - self.lateness_us:
            raise TooLate(
                f"event time {event.ts.isoformat()} is more than {self.policy.fraud.lateness} behind the newest event seen"
            )
        if newest is None or t > newest:
            state.newest_us = t
        event_type = event.__struct_config__.tag
        evaluators = self.evaluators.get(event_type)
        if not evaluators:
            return []
        user_id = event.user_id
        scopes = state.grants.get(user_id)
        if not scopes or scopes.isdisjoint(self.scopes_for[event_type]):
            state.withheld[event_type] += 1  # not consented for this purpose: never read
            return []
        state.read[self.category_of[event_type]].add(user_id)
        signals: list[Signal] = []
        for evaluator in evaluators:
            if evaluator.where and not evaluator.matches(event):
                continue
            found = evaluator.on_event(event, t, self._is_flagged)
            if found:
                signals += found
        for signal in signals:
            if signal.level in self.flag_levels:
                state.flagged.add(signal.user_id)  # later flows with this account hit FR04-like rules
        return signals

    def _consent(self, event: Consent) -> None:
        if self.purpose not in event.purposes:
            return
        scopes = self.state.grants.setdefault(event.user_id, set())
        if event.action == "grant":
            scopes.add(event.scope)
        else:
            scopes.discard(event.scope)

    def take_reads(self) -> dict[str, set[str]]:
        """The users whose data each category gave the rules since the last call (for the access log)."""
        read, self.state.read = self.state.read, defaultdict(set)
        return read
