"""The streaming rule kinds: each turns one event (and its key's window) into signals.

One evaluator per policy rule, built from its declaration (`policy.fraud.rules`): the
kind says what is measured over the window (count, distinct values, top-k share,
entropy, consecutive change) or, for `flagged_link`, whether the event names a flagged
account. Thresholds, windows, fields and levels all come from the policy.
"""

from __future__ import annotations

import datetime as dt
from abc import ABC, abstractmethod
from bisect import bisect_right
from collections.abc import Callable, Hashable
from typing import Any

from lendguard.fraud.signals import Signal
from lendguard.policy.model import (
    CountRule,
    DistinctCountRule,
    EntropyRule,
    FlaggedLinkRule,
    SequenceRule,
    ShareRule,
)

try:
    from lendguard.fraud.windows import EVIDENCE, KeyWindow, Tally, tally_of
except ImportError as exc:  # a source checkout whose extension was never built
    raise ImportError("lendguard.fraud.windows is compiled (Cython): build it with `make install` or `pip install -e .`") from exc

US = 1_000_000
DAY_US = 86_400 * US
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
NO_SIGNALS: tuple[Signal, ...] = ()  # what most events raise (shared: nothing allocated)
VALUE_ID_MASK = (1 << 20) - 1  # a habit slot's value id field; more distinct values share ids


def micros(moment: dt.datetime) -> int:
    """Microseconds since the epoch (exact; the event-time unit of every window)."""
    since = moment - EPOCH
    return (since.days * 86_400 + since.seconds) * US + since.microseconds


def moment(us: int) -> dt.datetime:
    return EPOCH + dt.timedelta(microseconds=us)


class RuleState:
    """Per-rule state: the windows by key and when each user was last signalled.

    A rule keyed by the user keeps its windows in the users' records instead (see
    `Evaluator.slot`): the engine looks the user up once per event anyway."""

    def __init__(self) -> None:
        self.windows: dict[Hashable, KeyWindow] = {}
        self.signalled: dict[str, int] = {}
        self.value_ids: dict[Hashable, int] = {}  # entropy rules' habit counts value ids


class Evaluator(ABC):
    """Base: filters, keying, and signal suppression (one signal per user per window)."""

    windowed = True
    weighted = False  # only share rules sum a value field

    def __init__(self, rule: Any, lateness_us: int):
        self.rule = rule
        self.width = rule.window_seconds * US if self.windowed else DAY_US
        self.keep = self.width + lateness_us
        self.where = tuple(rule.where.items())
        self.key = rule.key
        self.state = RuleState()
        self.slot = 0  # where the user's record holds this rule's window (0: in `state.windows`)
        self.is_flagged: Callable[[str], bool] = lambda account: False  # the engine's flagged set

    def matches(self, event: Any) -> bool:
        for name, value in self.where:  # a loop, not all(...): no generator per event
            if getattr(event, name, None) != value:
                return False
        return True

    @abstractmethod
    def on_event(self, event: Any, t: int, record: list) -> list[Signal]:
        """The signals this event raises (t: its event time in microseconds; record: the
        user's record in the engine, which holds the windows of user-keyed rules)."""

    def signal(self, user_id: str, t: int, key: Hashable, evidence: list[str], details: dict[str, Any]) -> Signal | None:
        last = self.state.signalled.get(user_id)
        if last is not None and abs(t - last) < self.width:
            return None  # already signalled for this window: one hit is enough
        self.state.signalled[user_id] = t
        rule = self.rule
        return Signal(rule.id, user_id, rule.level, moment(t), str(key), tuple(evidence[-EVIDENCE:]), details)

    def window_for(self, key: Hashable, record: list) -> KeyWindow:
        slot = self.slot
        if slot:
            window = record[slot]
            if window is None:
                window = record[slot] = self.new_window()
            return window
        window = self.state.windows.get(key)
        if window is None:
            window = self.state.windows[key] = self.new_window()
        return window

    def new_window(self) -> KeyWindow:
        return KeyWindow(self.weighted)


class TallyEvaluator(Evaluator):
    """Rules measured on the tally of a window (count, distinct, share, entropy)."""

    def value_of(self, event: Any) -> tuple[Hashable, float]:
        return getattr(event, self.rule.field), 1.0

    def on_event(self, event: Any, t: int, record: list) -> list[Signal]:
        value, weight = self.value_of(event)
        if value is None:
            return NO_SIGNALS
        key = getattr(event, self.key)
        window = self.window_for(key, record)
        if window.push(t, value, weight, event.event_id, self.width, self.keep):
            return self.rejudge_late(event, t, key, window)
        return self.judge(event, t, key, window, window.tally, window.lo, len(window.times))

    def rejudge_late(self, event: Any, t: int, key: Hashable, window: KeyWindow) -> list[Signal]:
        """A late entry joins every window ending at a later event of the key within the width."""
        found: list[Signal] = []
        for end in window.window_ends_after(t, self.width):
            i, j = window.span(end - self.width, end)
            tally = tally_of(window.values[i:j], window.weights[i:j] if window.weights is not None else None)
            found += self.judge(event, end, key, window, tally, i, j)
        return found

    @abstractmethod
    def judge(self, event: Any, t: int, key: Hashable, window: KeyWindow, tally: Tally, i: int, j: int) -> list[Signal]:
        """The signals of the window ending at t (entries i..j, measured by `tally`)."""


class CountEvaluator(TallyEvaluator):
    def value_of(self, event: Any) -> tuple[Hashable, float]:
        return "", 1.0

    def judge(self, event, t, key, window, tally, i, j):
        if tally.n <= self.rule.threshold:
            return NO_SIGNALS
        hit = self.signal(event.user_id, t, key, window.evidence_of(i, j), {"events": tally.n, "threshold": self.rule.threshold})
        return [hit] if hit else []


class DistinctCountEvaluator(TallyEvaluator):
    def judge(self, event, t, key, window, tally, i, j):
        distinct = len(tally.counts)
        if distinct <= self.rule.threshold:
            return NO_SIGNALS
        details = {"distinct": distinct, "threshold": self.rule.threshold, "field": self.rule.field}
        evidence = window.evidence_of(i, j)
        users = sorted(str(u) for u in tally.counts) if self.rule.signal_to == "members" else [event.user_id]
        found = [self.signal(user, t, key, evidence, details) for user in users]
        return [s for s in found if s]


class ShareEvaluator(TallyEvaluator):
    weighted = True

    def value_of(self, event: Any) -> tuple[Hashable, float]:
        weight = float(getattr(event, self.rule.value)) if self.rule.value else 1.0
        return getattr(event, self.rule.field), weight

    def judge(self, event, t, key, window, tally, i, j):
        rule = self.rule
        if tally.n < rule.min_events:
            return NO_SIGNALS
        share = tally.top_share(rule.top)
        if share <= rule.threshold:
            return NO_SIGNALS
        details = {"share": round(share, 4), "top": rule.top, "threshold": rule.threshold, "events": tally.n, "counterparties": len(tally.sums)}
        hit = self.signal(event.user_id, t, key, window.evidence_of(i, j), details)
        return [hit] if hit else []


class EntropyEvaluator(TallyEvaluator):
    """With a baseline, the user's habit is kept as per-day counts (compact for a stream of
    millions of users) and compared only when the window's entropy is above the threshold."""

    def __init__(self, rule: Any, lateness_us: int):
        super().__init__(rule, lateness_us)
        self.baseline_us = rule.baseline_seconds * US
        self.baseline_days = rule.baseline_seconds // 86_400 + 1
        self.prune_at = 4 * self.baseline_days  # day-value slots per key before old days are dropped
        self.min_events, self.threshold = rule.min_events, rule.threshold

    def on_event(self, event: Any, t: int, record: list) -> list[Signal]:
        """Payments are most of the stream: the in-order case is written out here."""
        value = getattr(event, self.rule.field)
        if value is None:
            return NO_SIGNALS
        key = getattr(event, self.key)
        window = self.window_for(key, record)
        if self.baseline_us:
            vid = self.state.value_ids.get(value)
            if vid is None:
                vid = self.state.value_ids[value] = len(self.state.value_ids) & VALUE_ID_MASK
            day = t // DAY_US
            window.count_day(day, vid, self.prune_at, day - self.baseline_days - 2)
        if window.push(t, value, 1.0, event.event_id, self.width, self.keep):
            return self.rejudge_late(event, t, key, window)
        tally = window.tally
        if not tally.entropy_above(self.min_events, self.threshold):
            return NO_SIGNALS
        return self.judge(event, t, key, window, tally, window.lo, len(window.times))

    def new_window(self) -> KeyWindow:
        return KeyWindow(False, self.baseline_us > 0)

    def judge(self, event, t, key, window, tally, i, j):
        rule = self.rule
        if tally.n < rule.min_events:
            return NO_SIGNALS
        entropy = tally.entropy()
        if entropy <= rule.threshold:
            return NO_SIGNALS
        details = {"entropy_bits": round(entropy, 4), "threshold": rule.threshold, "events": tally.n, "values": len(tally.counts)}
        if rule.baseline:
            before = self._before(window, t)
            if before is None or entropy - before < rule.min_rise:
                return NO_SIGNALS  # no habit to compare with yet, or no more spread than the usual one
            details |= {"baseline_bits": round(before, 4), "min_rise": rule.min_rise}
        hit = self.signal(event.user_id, t, key, window.evidence_of(i, j), details)
        return [hit] if hit else []

    def _before(self, window: KeyWindow, t: int) -> float | None:
        """Entropy of the key's values in the baseline before the window (whole days);
        None when there are fewer than `min_events` of them: no habit yet."""
        # Days wholly before the window start, back to the baseline's first.
        entropy, n = window.habit_entropy((t - self.baseline_us) // DAY_US, (t - self.width) // DAY_US)
        return entropy if n >= self.rule.min_events else None


class SequenceEvaluator(Evaluator):
    """Consecutive events of a key (by event time) whose field differs, closer than the window."""

    def on_event(self, event: Any, t: int, record: list) -> list[Signal]:
        value = getattr(event, self.rule.field)
        if value is None:
            return NO_SIGNALS
        key = getattr(event, self.key)
        window = self.window_for(key, record)
        window.push(t, value, 1.0, event.event_id, self.width, self.keep)
        at = bisect_right(window.times, t) - 1  # where push put it (after equal times)
        found = []
        for a, b in ((at - 1, at), (at, at + 1)):  # the new entry with its neighbours
            if a < 0 or b >= len(window.times):
                continue
            gap = window.times[b] - window.times[a]
            if window.values[a] != window.values[b] and gap < self.width:
                details = {"from": window.values[a], "to": window.values[b], "minutes": round(gap / US / 60, 1), "field": self.rule.field}
                hit = self.signal(event.user_id, window.times[b], key, window.evidence(window.times[a], window.times[b]), details)
                if hit:
                    found.append(hit)
        return found


class FlaggedLinkEvaluator(Evaluator):
    windowed = False

    def on_event(self, event: Any, t: int, record: list) -> list[Signal]:
        other = getattr(event, self.rule.field)
        if other is None or not self.is_flagged(other):
            return NO_SIGNALS
        hit = self.signal(event.user_id, t, other, [event.event_id], {"flagged_account": other, "field": self.rule.field})
        return [hit] if hit else []


EVALUATORS: dict[type, type[Evaluator]] = {
    CountRule: CountEvaluator,
    DistinctCountRule: DistinctCountEvaluator,
    ShareRule: ShareEvaluator,
    EntropyRule: EntropyEvaluator,
    SequenceRule: SequenceEvaluator,
    FlaggedLinkRule: FlaggedLinkEvaluator,
}


def evaluator_for(rule: Any, lateness_us: int) -> Evaluator:
    return EVALUATORS[type(rule)](rule, lateness_us)
