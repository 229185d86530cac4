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
from sys import intern
from typing import Any

from lendguard.events.schema import Consent
from lendguard.fraud.rules import EPOCH, NO_SIGNALS, US, Evaluator, evaluator_for
from lendguard.fraud.signals import Signal
from lendguard.policy import Policy

FIRST_SLOT = 2  # a user's record: scope bits, read bits, then the windows of user-keyed rules


class TooLate(ValueError):
    """An event older than the lateness tolerance allows (it is dead-lettered, not applied)."""


@dataclass
class EngineState:
    """Everything the engine remembers between events (what a checkpoint saves)."""

    rules: dict[str, Any] = field(default_factory=dict)  # rule id -> RuleState
    newest_us: int | None = None
    # user -> [scopes granting the purpose, categories read since the last checkpoint, the
    # windows of user-keyed rules...]: the scopes and categories as bit masks (bits:
    # `FraudEngine.scope_bits`, `category_bits`). One record per user, looked up once per
    # event: with hundreds of thousands of users, each separate lookup is a cache miss.
    users: dict[str, list] = field(default_factory=dict)
    slots: dict[str, int] = field(default_factory=dict)  # rule id -> its windows' place in a record
    flagged: set[str] = field(default_factory=set)
    withheld: Counter = field(default_factory=Counter)  # events a grant did not cover, per type
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
        self._is_flagged = self.state.flagged.__contains__
        slots = self.state.slots
        for rule in fraud.rules:
            if not rule.enabled:
                continue
            evaluator = evaluator_for(rule, self.lateness_us)
            if rule.id in self.state.rules:
                evaluator.state = self.state.rules[rule.id]
            self.state.rules[rule.id] = evaluator.state
            if evaluator.windowed and rule.key == "user_id":
                evaluator.slot = slots.setdefault(rule.id, FIRST_SLOT + len(slots))
            evaluator.is_flagged = self._is_flagged
            self.evaluators[rule.event_type].append(evaluator)
        self.record_size = FIRST_SLOT + len(slots)
        self.routes: dict[type, tuple[str, list[Evaluator], int, int]] = {}  # see `_route`
        for record in self.state.users.values():  # a checkpoint from before a rule was added
            record.extend([None] * (self.record_size - len(record)))
        self.flag_levels = {level for rule in fraud.rules if rule.kind == "flagged_link" for level in rule.flagged_levels}
        # Which scope's grant (for the engine's purpose) unlocks each event type's rows, and
        # the data category they belong to, as bits of the users' records.
        categories = policy.consent.categories
        self.category_bits = {name: 1 << i for i, name in enumerate(categories)}
        self.scope_bits = {scope: 1 << i for i, scope in enumerate(sorted({c.scope for c in categories.values()}))}
        self.unlocks: dict[str, tuple[int, int]] = {}  # event type -> (scope bit, category bit)
        for name, category in categories.items():
            for event_type in category.event_types:
                self.unlocks[event_type] = (self.scope_bits[category.scope], self.category_bits[name])

    # ---- seeding ------------------------------------------------------------------------------
    def grant(self, user_id: str, scope: str) -> None:
        if scope in self.scope_bits:
            self._record(user_id)[0] |= self.scope_bits[scope]

    def _record(self, user_id: str) -> list:
        record = self.state.users.get(user_id)
        if record is None:
            record = self.state.users[intern(user_id)] = [0, 0] + [None] * (self.record_size - FIRST_SLOT)
        return record

    def flag(self, accounts: set[str] | list[str]) -> None:
        self.state.flagged.update(accounts)

    # ---- the stream ---------------------------------------------------------------------------
    def process(self, event: Any) -> list[Signal]:
        """The signals of one event; raises TooLate beyond the tolerance."""
        state = self.state
        if type(event) is Consent:
            self._consent(event)  # grants apply on arrival, whatever their time
            return NO_SIGNALS
        since = event.ts - EPOCH
        t = (since.days * 86_400 + since.seconds) * US + since.microseconds  # micros(), inlined: hot path
        newest = state.newest_us
        if newest is not None and t < newest - self.lateness_us:
            raise TooLate(
                f"event time {event.ts.isoformat()} is more than {self.policy.fraud.lateness} behind the newest event seen"
            )
        if newest is None or t > newest:
            state.newest_us = t
        route = self.routes.get(type(event))
        if route is None:
            route = self.routes[type(event)] = self._route(type(event))
        event_type, evaluators, scope, category = route
        if not evaluators:
            return NO_SIGNALS
        record = state.users.get(event.user_id)
        if record is None or not record[0] & scope:
            state.withheld[event_type] += 1  # not consented for this purpose: never read
            return NO_SIGNALS
        if not record[1] & category:
            record[1] |= category  # the access log's record of this read
        signals: list[Signal] | None = None
        for evaluator in evaluators:
            if evaluator.where and not evaluator.matches(event):
                continue
            found = evaluator.on_event(event, t, record)
            if found:
                signals = [*signals, *found] if signals else list(found)
        if not signals:
            return NO_SIGNALS
        for signal in signals:
            if signal.level in self.flag_levels:
                state.flagged.add(signal.user_id)  # later flows with this account hit FR04-like rules
        return signals

    def _route(self, event_class: type) -> tuple[str, list[Evaluator], int, int]:
        """(type, evaluators, scope bit, category bit) of an event class, found once per class."""
        event_type = event_class.__struct_config__.tag
        evaluators = self.evaluators.get(event_type, [])
        scope, category = self.unlocks[event_type] if evaluators else (0, 0)
        return event_type, evaluators, scope, category

    def _consent(self, event: Consent) -> None:
        if self.purpose not in event.purposes:
            return
        bit = self.scope_bits.get(event.scope, 0)
        record = self._record(event.user_id)
        if event.action == "grant":
            record[0] |= bit
        else:
            record[0] &= ~bit

    def take_reads(self) -> dict[str, set[str]]:
        """The users whose data each category gave the rules since the last call (for the access log)."""
        read: dict[str, set[str]] = defaultdict(set)
        for user_id, record in self.state.users.items():
            if record[1]:
                for name, bit in self.category_bits.items():
                    if record[1] & bit:
                        read[name].add(user_id)
                record[1] = 0
        return read
