# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Event-time windows of one rule key: entries sorted by event time, with running tallies.

In-order events (the common case) update the tallies in O(1) amortised: the window is
(t - width, t] for the newest time t. Entries are kept `lateness` longer than the
window, so an event that arrives late (but within the tolerance) can still be placed
at its event time and the windows it belongs to recomputed exactly from the entries.

Compiled (Cython): every event of the stream passes through here once per rule, and a
stream holds hundreds of thousands of keys whose windows do not fit in the CPU's caches,
so what matters is how few separate objects an event touches. Times, weights and the
entropy habit live in C arrays (`array.array`), values are interned (one string object
per distinct value). Windows pickle as plain tuples (the checkpoint).
"""

from cpython cimport array
from libc.math cimport log2

import array as _array
from sys import intern

cdef enum:
    EVIDENCE_C = 20
EVIDENCE = EVIDENCE_C  # event ids a hit names as its evidence: the window's most recent ones


cdef inline double _clogc(Py_ssize_t c) noexcept:
    """c * log2(c), the term of one value's count in the running entropy."""
    return 0.0 if c < 2 else c * log2(<double>c)


cdef class Tally:
    """Counts per value (and, when weighted, weight sums), with the entropy terms kept
    incrementally. Unweighted tallies (every weight 1) keep no second dict."""

    cdef public dict counts
    cdef public object sums  # dict of value -> summed weight, or None when unweighted
    cdef public Py_ssize_t n
    cdef public double total
    cdef public double c_log_c  # sum over values of c * log2(c)

    def __init__(self, bint weighted=True):
        self.counts = {}
        self.sums = {} if weighted else None
        self.n = 0
        self.total = 0.0
        self.c_log_c = 0.0

    def __reduce__(self):
        return _tally, (self.counts, self.sums, self.n, self.total, self.c_log_c)


    cpdef add(self, object value, double weight):
        cdef object found = self.counts.get(value)
        cdef Py_ssize_t c = 0 if found is None else <Py_ssize_t>found
        self.counts[value] = c + 1
        if self.sums is not None:
            sums = <dict>self.sums
            sums[value] = sums.get(value, 0.0) + weight
        self.n += 1
        self.total += weight
        self.c_log_c += _clogc(c + 1) - _clogc(c)

    cpdef remove(self, object value, double weight):
        cdef Py_ssize_t c = <Py_ssize_t>self.counts[value]
        if c == 1:
            del self.counts[value]
            if self.sums is not None:
                del (<dict>self.sums)[value]
        else:
            self.counts[value] = c - 1
            if self.sums is not None:
                sums = <dict>self.sums
                sums[value] = sums[value] - weight
        self.n -= 1
        self.total -= weight
        self.c_log_c += _clogc(c - 1) - _clogc(c)

    cpdef double entropy(self):
        """Shannon entropy in bits of the values' distribution (0 when empty)."""
        if self.n == 0:
            return 0.0
        return max(0.0, log2(<double>self.n) - self.c_log_c / self.n)

    cpdef bint entropy_above(self, Py_ssize_t min_events, double threshold):
        """Whether at least `min_events` are counted and their entropy exceeds `threshold`."""
        return self.n >= min_events and self.n > 0 and self.entropy() > threshold

    def top_share(self, int top):
        """The share of the total held by the `top` largest values (by summed weight)."""
        if self.total <= 0:
            return 0.0
        weights = self.sums if self.sums is not None else self.counts
        largest = sorted(weights.values(), reverse=True)[:top]
        return sum(largest) / self.total


def _tally(counts, sums, n, total, c_log_c):
    cdef Tally tally = Tally.__new__(Tally)
    tally.counts, tally.sums, tally.n, tally.total, tally.c_log_c = counts, sums, n, total, c_log_c
    return tally


def entropy_of(dict counts):
    """(Shannon entropy in bits, number of events) of value counts."""
    cdef Py_ssize_t n = 0, c
    cdef double terms = 0.0
    for count in counts.values():
        c = count
        n += c
        terms += _clogc(c)
    if n == 0:
        return 0.0, 0
    return max(0.0, log2(<double>n) - terms / n), n


def tally_of(list values, weights):
    """A tally counted afresh (weights None: every weight is 1)."""
    tally = Tally(weights is not None)
    cdef Py_ssize_t i
    for i in range(len(values)):
        tally.add(values[i], 1.0 if weights is None else weights[i])
    return tally


cdef inline Py_ssize_t _size(array.array a) noexcept:
    return a.ob_size


cdef inline void _push_q(array.array a, long long v) except *:
    cdef Py_ssize_t n = a.ob_size
    array.resize_smart(a, n + 1)
    a.data.as_longlongs[n] = v


cdef inline void _push_d(array.array a, double v) except *:
    cdef Py_ssize_t n = a.ob_size
    array.resize_smart(a, n + 1)
    a.data.as_doubles[n] = v


cdef inline Py_ssize_t _bisect_right(array.array a, long long t, Py_ssize_t lo, Py_ssize_t hi) noexcept:
    cdef long long* times = a.data.as_longlongs
    cdef Py_ssize_t mid
    while lo < hi:
        mid = (lo + hi) >> 1
        if t < times[mid]:
            hi = mid
        else:
            lo = mid + 1
    return lo


cdef inline Py_ssize_t _bisect_left(array.array a, long long t, Py_ssize_t lo, Py_ssize_t hi) noexcept:
    cdef long long* times = a.data.as_longlongs
    cdef Py_ssize_t mid
    while lo < hi:
        mid = (lo + hi) >> 1
        if times[mid] < t:
            lo = mid + 1
        else:
            hi = mid
    return lo


cdef array.array _TIMES = _array.array("q")
cdef array.array _WEIGHTS = _array.array("d")


cdef class KeyWindow(Tally):
    """The entries of one key, sorted by event time (microseconds), and the tally of the
    newest window, which the window itself is (one object instead of two: an event
    touches fewer places in memory). `lo` is the first entry inside it; earlier ones are
    kept for late events.

    Each entry keeps its event id (a hit's evidence), and a window of an entropy rule
    with a baseline keeps the key's habit: per-day value counts, one int64 per day and
    value (`day << 40 | value id << 20 | count`), in the same object, so an event
    touches one window and nothing else of its key."""

    cdef public array.array times
    cdef public list values
    cdef public list ids
    cdef public object weights  # array of doubles, or None when every weight is 1
    cdef public Py_ssize_t lo
    cdef public object habit  # array of int64 (see above), or None

    def __init__(self, bint weighted=True, bint habit=False):
        Tally.__init__(self, weighted)
        self.times = array.clone(_TIMES, 0, False)
        self.values = []
        self.ids = []
        self.weights = array.clone(_WEIGHTS, 0, False) if weighted else None
        self.lo = 0
        self.habit = array.clone(_TIMES, 0, False) if habit else None

    def __reduce__(self):
        # Arrays as bytes and the event ids as one string (an id has no whitespace): pickling
        # hundreds of thousands of windows stays a few memory copies each.
        return _window, (
            self.times.tobytes(), self.values, " ".join(self.ids), None if self.weights is None else self.weights.tobytes(),
            self.lo, None if self.habit is None else self.habit.tobytes(),
            self.counts, self.sums, self.n, self.total, self.c_log_c,
        )

    @property
    def tally(self):
        """The newest window's tally: the window itself."""
        return self

    cpdef bint push(self, long long t, object value, double weight, str event_id, long long width, long long keep) except -1:
        """Add an entry; returns True when it arrived late (before the key's newest time).

        `width` is the window, `keep` how far before the newest time entries are kept
        (window + lateness). The common in-order case touches no more than it must."""
        if type(value) is str:
            value = intern(value)
        cdef Py_ssize_t size = _size(self.times)
        if size == 0 or t >= self.times.data.as_longlongs[size - 1]:
            self.append(t, value, weight, event_id, width, keep)
            return False
        cdef Py_ssize_t at = _bisect_right(self.times, t, 0, size)
        self.times.insert(at, t)
        self.values.insert(at, value)
        self.ids.insert(at, event_id)
        if self.weights is not None:
            self.weights.insert(at, weight)
        if t > self.times.data.as_longlongs[size] - width:
            self.add(value, weight)
        elif at <= self.lo:
            self.lo += 1
        return True

    cpdef append(self, long long t, object value, double weight, str event_id, long long width, long long keep):
        """The in-order case of `push` (t at or after the newest time; value interned)."""
        _push_q(self.times, t)
        self.values.append(value)
        self.ids.append(event_id)
        if self.weights is not None:
            _push_d(<array.array>self.weights, weight)
        self.add(value, weight)
        cdef long long horizon = t - width
        if self.times.data.as_longlongs[self.lo] <= horizon:
            self._slide(horizon)
        if self.lo > 16:
            self._forget(t - keep)

    cdef void _slide(self, long long horizon) except *:
        cdef long long* times = self.times.data.as_longlongs
        cdef Py_ssize_t lo = self.lo, size = _size(self.times)
        cdef double* weights = NULL
        if self.weights is not None:
            weights = (<array.array>self.weights).data.as_doubles
        while lo < size and times[lo] <= horizon:
            self.remove(self.values[lo], 1.0 if weights == NULL else weights[lo])
            lo += 1
        self.lo = lo

    cdef void _forget(self, long long horizon) except *:
        """Drop entries too old for any late event to need (in chunks, to stay amortised)."""
        cdef Py_ssize_t cut = _bisect_right(self.times, horizon, 0, self.lo)
        if cut > 16:
            del self.times[:cut]
            del self.values[:cut]
            del self.ids[:cut]
            if self.weights is not None:
                del self.weights[:cut]
            self.lo -= cut

    def span(self, long long start, long long end):
        """Index range of entries with start < t <= end."""
        cdef Py_ssize_t size = _size(self.times)
        return _bisect_right(self.times, start, 0, size), _bisect_right(self.times, end, 0, size)

    def evidence(self, long long first, long long last):
        """Ids of the last `EVIDENCE` entries with first <= t <= last, in time order."""
        cdef Py_ssize_t size = _size(self.times)
        cdef Py_ssize_t i = _bisect_left(self.times, first, 0, size), j = _bisect_right(self.times, last, 0, size)
        return self.ids[max(i, j - EVIDENCE_C):j]

    def evidence_of(self, Py_ssize_t i, Py_ssize_t j):
        """Ids of the last `EVIDENCE` entries among i..j-1."""
        return self.ids[max(i, j - EVIDENCE_C):j] if j > i else []

    def window_ends_after(self, long long t, long long width):
        """Event times of this key in [t, t + width): the windows a late entry at t joins."""
        cdef Py_ssize_t size = _size(self.times)
        cdef Py_ssize_t i = _bisect_left(self.times, t, 0, size)
        cdef Py_ssize_t j = _bisect_left(self.times, t + width, 0, size)
        return sorted(set(self.times[i:j]))

    # ---- the habit (entropy rules with a baseline) ---------------------------------------------
    cpdef count_day(self, long long day, long long value_id, Py_ssize_t prune_at, long long keep_from):
        """Count one value (id below 2**20) on `day`. Once more than `prune_at` day-values
        are held, the days before `keep_from` are dropped."""
        cdef array.array habit = <array.array>self.habit
        cdef long long* slots = habit.data.as_longlongs
        cdef Py_ssize_t size = _size(habit), i
        cdef long long slot = day << 40 | value_id << 20
        for i in range(size - 1, -1, -1):  # the newest days are at the end
            if (slots[i] >> 20) == (slot >> 20):
                if (slots[i] & _COUNT) < _COUNT:
                    slots[i] += 1
                return
            if (slots[i] >> 40) < day - 1:
                break  # in time order but for late events, which are less than a day late
        _push_q(habit, slot | 1)
        if size + 1 > prune_at:
            self._prune_habit(keep_from)

    cdef void _prune_habit(self, long long oldest) except *:
        cdef array.array habit = <array.array>self.habit
        cdef long long* slots = habit.data.as_longlongs
        cdef Py_ssize_t size = _size(habit), i, kept = 0
        for i in range(size):
            if (slots[i] >> 40) >= oldest:
                slots[kept] = slots[i]
                kept += 1
        array.resize(habit, kept)

    def habit_entropy(self, long long first_day, long long end_day):
        """(entropy in bits, events) of the values counted on days first_day <= day < end_day."""
        cdef array.array habit = <array.array>self.habit
        cdef long long* slots = habit.data.as_longlongs
        cdef Py_ssize_t i
        cdef long long day
        cdef dict merged = {}
        for i in range(_size(habit)):
            day = slots[i] >> 40
            if first_day <= day < end_day:
                vid = (slots[i] >> 20) & _COUNT
                merged[vid] = merged.get(vid, 0) + (slots[i] & _COUNT)
        return entropy_of(merged)


cdef long long _COUNT = (1 << 20) - 1  # the count (and value id) field of a habit slot


def _window(bytes times, values, str ids, weights, lo, habit, counts, sums, n, total, c_log_c):
    cdef KeyWindow window = KeyWindow.__new__(KeyWindow)
    window.times = _array.array("q", times)
    window.values, window.ids, window.lo = values, ids.split(" ") if ids else [], lo
    window.weights = None if weights is None else _array.array("d", weights)
    window.habit = None if habit is None else _array.array("q", habit)
    window.counts, window.sums, window.n, window.total, window.c_log_c = counts, sums, n, total, c_log_c
    return window
