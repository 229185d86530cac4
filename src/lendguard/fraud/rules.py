"""The streaming rule kinds: each turns one event (and its key's window) into signals.

One evaluator per policy rule, built from its declaration (`policy.fraud.rules`): the
kind says what is measured over the window (count, distinct values, top-k share,
entropy, consecutive change) or, for `flagged_link`, whether the event names a flagged
account. Thresholds, windows, fields and levels all come from the policy.
"""

from __future__ import annotations

import datetime as dt
import math
from abc import ABC, abstractmethod
from bisect import bisect_right
from collections.abc import Callable, Hashable
from sys import intern
from typing import Any

from lendguard.fraud.signals import Signal
from lendguard.fraud.windows import EVIDENCE, KeyWindow, Tally, entropy_of, tally_of
from lendguard.policy.model import (
    CountRule,
    DistinctCountRule,
    EntropyRule,
    FlaggedLinkRule,
    SequenceRule,
    ShareRule,
)

US = 1_000_000
DAY_US = 86_400 * US
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


def micros(moment: dt.datetime) -> int:
    """Microseconds since the epoch (exact; the event-time unit of every window)."""
    since = moment - EPOCH
    return (since.days * 86_400 + since.seconds) * US + since.microseconds


def moment(us: int) -> dt.datetime:
    return EPOCH + dt.timedelta(microseconds=us)


class RuleState:
    """Per-rule state: the windows by key and when each user was last signalled."""

    def __init__(self) -> None:
        self.windows: dict[Hashable, KeyWindow] = {}
        self.signalled: dict[str, int] = {}
        self.baselines: dict[Hashable, dict[int, int]] = {}  # entropy rules' habit: day << 16 | value id -> count
        self.value_ids: dict[Hashable, int] = {}


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

    def matches(self, event: Any) -> bool:
        return all(getattr(event, name, None) == value for name, value in self.where)

    @abstractmethod
    def on_event(self, event: Any, t: int, flagged: Callable[[str], bool]) -> list[Signal]:
        """The signals this event raises (t: its event time in microseconds)."""

    def signal(self, user_id: str, t: int, key: Hashable, evidence: list[str], details: dict[str, Any]) -> Signal | None:
        last = self.state.signalled.get(user_id)
        if last is not None and abs(t - last) < self.width:
            return None  # already signalled for this window: one hit is enough
        self.state.signalled[user_id] = t
        rule = self.rule
        return Signal(rule.id, user_id, rule.level, moment(t), str(key), tuple(evidence[-EVIDENCE:]), details)

    def window_for(self, key: Hashable) -> KeyWindow:
        window = self.state.windows.get(key)
        if window is None:
            window = self.state.windows[key] = KeyWindow(self.weighted)
        return window


class TallyEvaluator(Evaluator):
    """Rules measured on the tally of a window (count, distinct, share, entropy)."""

    def value_of(self, event: Any) -> tuple[Hashable, float]:
        return getattr(event, self.rule.field), 1.0

    def on_event(self, event: Any, t: int, flagged: Callable[[str], bool]) -> list[Signal]:
        value, weight = self.value_of(event)
        if value is None:
            return []
        key = getattr(event, self.key)
        window = self.window_for(key)
        late = window.push(t, value, weight, event.event_id, self.width, self.keep)
        if not late:
            return self.judge(event, t, key, window, window.tally, window.lo, len(window.times))
        # A late entry joins every window ending at a later event of the key within the width.
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
            return []
        hit = self.signal(event.user_id, t, key, window.evidence_of(i, j), {"events": tally.n, "threshold": self.rule.threshold})
        return [hit] if hit else []


class DistinctCountEvaluator(TallyEvaluator):
    def judge(self, event, t, key, window, tally, i, j):
        distinct = len(tally.counts)
        if distinct <= self.rule.threshold:
            return []
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
            return []
        share = tally.top_share(rule.top)
        if share <= rule.threshold:
            return []
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

    def on_event(self, event: Any, t: int, flagged: Callable[[str], bool]) -> list[Signal]:
        """Payments are most of the stream: the in-order case is written out here."""
        value = getattr(event, self.rule.field)
        if value is None:
            return []
        if type(value) is str:
            value = intern(value)
        key = getattr(event, self.key)
        if self.baseline_us:
            self._remember(key, value, t)
        windows = self.state.windows
        window = windows.get(key)
        if window is None:
            window = windows[key] = KeyWindow(self.weighted)
        times = window.times
        if times and t < times[-1]:
            return super().on_event(event, t, flagged)  # late: the general path
        window.append(t, value, 1.0, event.event_id, self.width, self.keep)
        tally = window.tally
        n = tally.n
        if n < self.min_events or math.log2(n) - tally.c_log_c / n <= self.threshold:
            return []
        return self.judge(event, t, key, window, tally, window.lo, len(times))

    def _remember(self, key: Hashable, value: Hashable, t: int) -> None:
        """Count the value in the key's day bucket (the habit a rise is measured against).

        One flat dict of ints per key, `day << 16 | value id` -> count: millions of keys
        stay cheap to hold and to checkpoint."""
        state = self.state
        vid = state.value_ids.get(value)
        if vid is None:
            vid = state.value_ids[value] = len(state.value_ids)
        days = state.baselines.get(key)
        if days is None:
            days = state.baselines[key] = {}
        slot = (t // DAY_US) << 16 | vid
        count = days.get(slot)
        if count is None:
            days[slot] = 1
            if len(days) > self.prune_at:
                oldest = (t // DAY_US - self.baseline_days - 2) << 16
                for stale in [k for k in days if k < oldest]:
                    del days[stale]
        else:
            days[slot] = count + 1

    def judge(self, event, t, key, window, tally, i, j):
        rule = self.rule
        if tally.n < rule.min_events:
            return []
        entropy = tally.entropy()
        if entropy <= rule.threshold:
            return []
        details = {"entropy_bits": round(entropy, 4), "threshold": rule.threshold, "events": tally.n, "values": len(tally.counts)}
        if rule.baseline:
            before = self._before(key, t)
            if before is None or entropy - before < rule.min_rise:
                return []  # no habit to compare with yet, or no more spread than the usual one
            details |= {"baseline_bits": round(before, 4), "min_rise": rule.min_rise}
        hit = self.signal(event.user_id, t, key, window.evidence_of(i, j), details)
        return [hit] if hit else []

    def _before(self, key: Hashable, t: int) -> float | None:
        """Entropy of the key's values in the baseline before the window (whole days);
        None when there are fewer than `min_events` of them: no habit yet."""
        days = self.state.baselines.get(key)
        if not days:
            return None
        first = ((t - self.baseline_us) // DAY_US) << 16
        last = ((t - self.width) // DAY_US) << 16  # days wholly before the window start
        merged: dict[int, int] = {}
        for slot, count in days.items():
            if first <= slot < last:
                vid = slot & 0xFFFF
                merged[vid] = merged.get(vid, 0) + count
        entropy, n = entropy_of(merged)
        return entropy if n >= self.rule.min_events else None


class SequenceEvaluator(Evaluator):
    """Consecutive events of a key (by event time) whose field differs, closer than the window."""

    def on_event(self, event: Any, t: int, flagged: Callable[[str], bool]) -> list[Signal]:
        value = getattr(event, self.rule.field)
        if value is None:
            return []
        key = getattr(event, self.key)
        window = self.window_for(key)
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

    def on_event(self, event: Any, t: int, flagged: Callable[[str], bool]) -> list[Signal]:
        other = getattr(event, self.rule.field)
        if other is None or not flagged(other):
            return []
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
