"""Event-time windows of one rule key: entries sorted by event time, with running tallies.

In-order events (the common case) update the tallies in O(1) amortised: the window is
(t - width, t] for the newest time t. Entries are kept `lateness` longer than the
window, so an event that arrives late (but within the tolerance) can still be placed
at its event time and the windows it belongs to recomputed exactly from the entries.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Hashable


class Tally:
    """Counts and weight sums per value, with the entropy terms kept incrementally."""

    __slots__ = ("counts", "sums", "n", "total", "c_log_c")

    def __init__(self) -> None:
        self.counts: dict[Hashable, int] = {}
        self.sums: dict[Hashable, float] = {}
        self.n = 0
        self.total = 0.0
        self.c_log_c = 0.0  # sum over values of c * log2(c)

    def add(self, value: Hashable, weight: float) -> None:
        counts = self.counts
        c = counts.get(value, 0)
        counts[value] = c + 1
        self.sums[value] = self.sums.get(value, 0.0) + weight
        self.n += 1
        self.total += weight
        self.c_log_c += (_CLOGC[c + 1] - _CLOGC[c]) if c < 4095 else _clogc(c + 1) - _clogc(c)

    def remove(self, value: Hashable, weight: float) -> None:
        c = self.counts[value]
        if c == 1:
            del self.counts[value]
            del self.sums[value]
        else:
            self.counts[value] = c - 1
            self.sums[value] -= weight
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
        largest = sorted(self.sums.values(), reverse=True)[:top]
        return sum(largest) / self.total


_CLOGC = [0.0, 0.0] + [c * math.log2(c) for c in range(2, 4096)]


def _clogc(c: int) -> float:
    return _CLOGC[c] if c < 4096 else c * math.log2(c)


def tally_of(values: list[Hashable], weights: list[float]) -> Tally:
    tally = Tally()
    for value, weight in zip(values, weights, strict=True):
        tally.add(value, weight)
    return tally


class KeyWindow:
    """The entries of one key, sorted by event time (microseconds), and the tally of the
    newest window. `lo` is the first entry inside it; earlier ones are kept for late events."""

    __slots__ = ("times", "values", "weights", "ids", "lo", "tally")

    def __init__(self) -> None:
        self.times: list[int] = []
        self.values: list[Hashable] = []
        self.weights: list[float] = []
        self.ids: list[str] = []
        self.lo = 0
        self.tally = Tally()

    @property
    def newest(self) -> int | None:
        return self.times[-1] if self.times else None

    def push(self, t: int, value: Hashable, weight: float, event_id: str, width: int, keep: int) -> bool:
        """Add an entry; returns True when it arrived late (before the key's newest time).

        `width` is the window, `keep` how far before the newest time entries are kept
        (window + lateness)."""
        times = self.times
        if not times or t >= times[-1]:
            times.append(t)
            self.values.append(value)
            self.weights.append(weight)
            self.ids.append(event_id)
            self.tally.add(value, weight)
            self._slide(t - width)
            self._forget(t - keep)
            return False
        at = bisect_right(times, t)
        times.insert(at, t)
        self.values.insert(at, value)
        self.weights.insert(at, weight)
        self.ids.insert(at, event_id)
        if t > times[-1] - width:
            self.tally.add(value, weight)
            if at < self.lo:
                self.lo = at  # cannot happen: entries before lo are outside the window
        elif at <= self.lo:
            self.lo += 1
        return True

    def _slide(self, horizon: int) -> None:
        times, lo, tally = self.times, self.lo, self.tally
        while lo < len(times) and times[lo] <= horizon:
            tally.remove(self.values[lo], self.weights[lo])
            lo += 1
        self.lo = lo

    def _forget(self, horizon: int) -> None:
        """Drop entries too old for any late event to need (in chunks, to stay amortised)."""
        cut = bisect_right(self.times, horizon, 0, self.lo)
        if cut > 64 or (cut and cut * 2 > len(self.times)):
            del self.times[:cut], self.values[:cut], self.weights[:cut], self.ids[:cut]
            self.lo -= cut

    def span(self, start: int, end: int) -> tuple[int, int]:
        """Index range of entries with start < t <= end."""
        return bisect_right(self.times, start), bisect_right(self.times, end)

    def window_ends_after(self, t: int, width: int) -> list[int]:
        """Event times of this key in [t, t + width): the windows a late entry at t joins."""
        i = bisect_left(self.times, t)
        j = bisect_left(self.times, t + width)
        return sorted(set(self.times[i:j]))
