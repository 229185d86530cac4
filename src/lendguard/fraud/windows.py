"""Event-time windows of one rule key: entries sorted by event time, with running tallies.

In-order events (the common case) update the tallies in O(1) amortised: the window is
(t - width, t] for the newest time t. Entries are kept `lateness` longer than the
window, so an event that arrives late (but within the tolerance) can still be placed
at its event time and the windows it belongs to recomputed exactly from the entries.
"""

from __future__ import annotations

import math
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Hashable
from sys import intern


class Tally:
    """Counts per value (and, when weighted, weight sums), with the entropy terms kept
    incrementally. Unweighted tallies (every weight 1) keep no second dict."""

    __slots__ = ("counts", "sums", "n", "total", "c_log_c")

    def __init__(self, weighted: bool = True) -> None:
        self.counts: dict[Hashable, int] = {}
        self.sums: dict[Hashable, float] | None = {} if weighted else None
        self.n = 0
        self.total = 0.0
        self.c_log_c = 0.0  # sum over values of c * log2(c)

    def __getstate__(self) -> tuple:
        return self.counts, self.sums, self.n, self.total, self.c_log_c

    def __setstate__(self, state: tuple) -> None:
        self.counts, self.sums, self.n, self.total, self.c_log_c = state

    def add(self, value: Hashable, weight: float) -> None:
        counts = self.counts
        c = counts.get(value, 0)
        counts[value] = c + 1
        sums = self.sums
        if sums is not None:
            sums[value] = sums.get(value, 0.0) + weight
        self.n += 1
        self.total += weight
        self.c_log_c += (_CLOGC[c + 1] - _CLOGC[c]) if c < 4095 else _clogc(c + 1) - _clogc(c)

    def remove(self, value: Hashable, weight: float) -> None:
        counts, sums = self.counts, self.sums
        c = counts[value]
        if c == 1:
            del counts[value]
            if sums is not None:
                del sums[value]
        else:
            counts[value] = c - 1
            if sums is not None:
                sums[value] -= weight
        self.n -= 1
        self.total -= weight
        self.c_log_c += (_CLOGC[c - 1] - _CLOGC[c]) if c < 4096 else _clogc(c - 1) - _clogc(c)

    def entropy(self) -> float:
        """Shannon entropy in bits of the values' distribution (0 when empty)."""
        if self.n == 0:
            return 0.0
        return max(0.0, math.log2(self.n) - self.c_log_c / self.n)

    def top_share(self, top: int) -> float:
        """The share of the total held by the `top` largest values (by summed weight)."""
        if self.total <= 0:
            return 0.0
        weights = self.sums if self.sums is not None else self.counts
        largest = sorted(weights.values(), reverse=True)[:top]
        return sum(largest) / self.total


_CLOGC = [0.0, 0.0] + [c * math.log2(c) for c in range(2, 4096)]


def _clogc(c: int) -> float:
    return _CLOGC[c] if c < 4096 else c * math.log2(c)


def entropy_of(counts: dict[Hashable, int]) -> tuple[float, int]:
    """(Shannon entropy in bits, number of events) of value counts."""
    n = sum(counts.values())
    if n == 0:
        return 0.0, 0
    return max(0.0, math.log2(n) - sum(_clogc(c) for c in counts.values()) / n), n


def tally_of(values: list[Hashable], weights: list[float] | None) -> Tally:
    """A tally counted afresh (weights None: every weight is 1)."""
    tally = Tally(weighted=weights is not None)
    for value, weight in zip(values, weights if weights is not None else [1.0] * len(values), strict=True):
        tally.add(value, weight)
    return tally


EVIDENCE = 20  # event ids kept per key: the most recent ones name a hit's evidence


class KeyWindow:
    """The entries of one key, sorted by event time (microseconds), and the tally of the
    newest window. `lo` is the first entry inside it; earlier ones are kept for late events.

    Kept compact, since a stream holds millions of keys: times in an int64 array, values
    interned (one string object per distinct value), and only the last `EVIDENCE` event
    ids (with their times) for a hit's evidence."""

    __slots__ = ("times", "values", "weights", "recent", "lo", "tally")

    def __init__(self, weighted: bool = True) -> None:
        self.times = array("q")
        self.values: list[Hashable] = []
        self.weights: list[float] | None = [] if weighted else None  # every weight is 1 otherwise
        self.recent: list[tuple[int, str]] = []  # a list, not a deque: a deque block is 600 bytes
        self.lo = 0
        self.tally = Tally(weighted)

    def __getstate__(self) -> tuple:  # plain tuples: pickling millions of windows stays fast
        return self.times, self.values, self.weights, self.recent, self.lo, self.tally

    def __setstate__(self, state: tuple) -> None:
        self.times, self.values, self.weights, self.recent, self.lo, self.tally = state

    @property
    def newest(self) -> int | None:
        return self.times[-1] if self.times else None

    def push(self, t: int, value: Hashable, weight: float, event_id: str, width: int, keep: int) -> bool:
        """Add an entry; returns True when it arrived late (before the key's newest time).

        `width` is the window, `keep` how far before the newest time entries are kept
        (window + lateness). The common in-order case touches no more than it must."""
        if type(value) is str:
            value = intern(value)
        times = self.times
        if not times or t >= times[-1]:
            self.append(t, value, weight, event_id, width, keep)
            return False
        self.recent.append((t, event_id))
        if len(self.recent) > EVIDENCE:
            del self.recent[0]
        at = bisect_right(times, t)
        times.insert(at, t)
        self.values.insert(at, value)
        if self.weights is not None:
            self.weights.insert(at, weight)
        if t > times[-1] - width:
            self.tally.add(value, weight)
        elif at <= self.lo:
            self.lo += 1
        return True

    def append(self, t: int, value: Hashable, weight: float, event_id: str, width: int, keep: int) -> None:
        """The in-order case of `push` (t at or after the newest time; value interned)."""
        recent = self.recent
        recent.append((t, event_id))
        if len(recent) > EVIDENCE or recent[0][0] <= t - keep:  # only what a window can still use
            cut = 0
            while cut < len(recent) and (len(recent) - cut > EVIDENCE or recent[cut][0] <= t - keep):
                cut += 1
            del recent[:cut]
        times = self.times
        times.append(t)
        self.values.append(value)
        if self.weights is not None:
            self.weights.append(weight)
        self.tally.add(value, weight)
        horizon = t - width
        if times[self.lo] <= horizon:
            self._slide(horizon)
        if self.lo > 16:
            self._forget(t - keep)

    def _slide(self, horizon: int) -> None:
        times, lo, tally = self.times, self.lo, self.tally
        while lo < len(times) and times[lo] <= horizon:
            tally.remove(self.values[lo], self.weights[lo] if self.weights is not None else 1.0)
            lo += 1
        self.lo = lo

    def _forget(self, horizon: int) -> None:
        """Drop entries too old for any late event to need (in chunks, to stay amortised)."""
        cut = bisect_right(self.times, horizon, 0, self.lo)
        if cut > 16:
            del self.times[:cut], self.values[:cut]
            if self.weights is not None:
                del self.weights[:cut]
            self.lo -= cut

    def span(self, start: int, end: int) -> tuple[int, int]:
        """Index range of entries with start < t <= end."""
        return bisect_right(self.times, start), bisect_right(self.times, end)

    def evidence(self, first: int, last: int) -> list[str]:
        """Ids of the recent events with first <= t <= last, in time order."""
        return [event_id for t, event_id in sorted(self.recent) if first <= t <= last]

    def evidence_of(self, i: int, j: int) -> list[str]:
        """Ids of the recent events among entries i..j-1."""
        return self.evidence(self.times[i], self.times[j - 1]) if j > i else []

    def window_ends_after(self, t: int, width: int) -> list[int]:
        """Event times of this key in [t, t + width): the windows a late entry at t joins."""
        i = bisect_left(self.times, t)
        j = bisect_left(self.times, t + width)
        return sorted(set(self.times[i:j]))
