"""Optimal binning of one feature against a binary outcome, vectorised.

Prebinning puts every row in one of at most `max_prebins` quantile bins with one
`searchsorted` and one `bincount` (no Python loop over rows). The optimal merge of
adjacent prebins is then a dynamic programme over the prebins alone: the partition with
the highest information value whose bins each hold at least `min_bin_share` of the rows
and both outcomes, at most `max_bins` of them, with event rates that rise or fall
monotonically, or rise then fall (peak) or fall then rise (valley), when a trend is asked for. Missing values get their own bin, outside the
trend. A categorical feature is ordered by its categories' event rates and binned the
same way (rare categories pooled first), so its bins are sets of categories.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import polars as pl

from lendguard.policy.scoring import Trend

MISSING_LABEL = "missing"  # the label of every feature's missing-value bin
SMOOTHING = 0.5  # added to each side's count in a bin's WoE, so an empty side stays finite


class BinningError(ValueError):
    """Data a feature cannot be binned on; the message names the feature."""


@dataclass(frozen=True)
class BinningRules:
    max_prebins: int = 20
    max_bins: int = 8
    min_bin_share: float = 0.05
    trend: Trend = "auto"
    unimodal_gain: float = 0.1  # with `auto`: how much more IV a peak or valley must add


@dataclass
class FeatureBins:
    """A feature's bins: numeric edges (bin i is [edges[i-1], edges[i]) with open ends) or
    category groups, plus the missing bin; counts, WoE and IV from the training data."""

    feature: str
    kind: Literal["numeric", "categorical"]
    edges: list[float] = field(default_factory=list)
    groups: list[list[str]] = field(default_factory=list)
    events: list[int] = field(default_factory=list)  # per bin, the missing bin last
    non_events: list[int] = field(default_factory=list)
    trend: str = "none"

    @property
    def bins(self) -> int:
        return len(self.events)

    @property
    def labels(self) -> list[str]:
        if self.kind == "numeric":
            bounds = [-math.inf, *self.edges, math.inf]
            body = [f"[{_fmt(lo)}, {_fmt(hi)})" for lo, hi in zip(bounds[:-1], bounds[1:], strict=True)]
        else:
            body = [", ".join(g) for g in self.groups]
        return [*body, MISSING_LABEL]

    def woe(self) -> np.ndarray:
        return woe_of(np.array(self.events), np.array(self.non_events))

    def iv(self) -> float:
        return float(iv_parts(np.array(self.events), np.array(self.non_events)).sum())

    def p_value(self) -> float:
        """Chi-square test that the bins' event rates differ (bins without rows left out):
        the chance of an IV this large from a feature that carries nothing."""
        from scipy.stats import chi2_contingency

        table = np.array([self.events, self.non_events], dtype=np.float64)
        table = table[:, table.sum(axis=0) > 0]
        if table.shape[1] < 2 or (table.sum(axis=1) == 0).any():
            return 1.0
        return float(chi2_contingency(table, correction=False).pvalue)


def _fmt(value: float) -> str:
    return "-inf" if value == -math.inf else "inf" if value == math.inf else f"{value:g}"


# ---- WoE and IV ---------------------------------------------------------------------------
def woe_of(events: np.ndarray, non_events: np.ndarray) -> np.ndarray:
    """ln(share of non-events / share of events) per bin: positive where outcomes are good.
    Each side's count is smoothed by 0.5 so that a bin without one outcome stays finite; a
    bin no training row fell in (say, no missing values) is neutral: 0."""
    e = events + SMOOTHING
    g = non_events + SMOOTHING
    return np.where(events + non_events == 0, 0.0, np.log((g / g.sum()) / (e / e.sum())))


def iv_parts(events: np.ndarray, non_events: np.ndarray) -> np.ndarray:
    """Each bin's part of the information value: (non-event share - event share) x WoE."""
    e = events + SMOOTHING
    g = non_events + SMOOTHING
    return (g / g.sum() - e / e.sum()) * woe_of(events, non_events)


# ---- numeric ------------------------------------------------------------------------------
def bin_numeric(name: str, x: pl.Series | np.ndarray, y: np.ndarray, rules: BinningRules) -> FeatureBins:
    x = x.cast(pl.Float64).fill_null(np.nan).to_numpy() if isinstance(x, pl.Series) else np.asarray(x, dtype=np.float64)
    y = _target(name, y, len(x))
    missing = np.isnan(x)
    present = x[~missing]
    if present.size == 0:
        raise BinningError(f"feature {name!r} has no values (all {len(x):,} rows are missing)")
    edges = _prebin_edges(present, rules.max_prebins)
    index = np.searchsorted(edges, present, side="right")
    events = np.bincount(index, weights=y[~missing], minlength=len(edges) + 1)
    counts = np.bincount(index, minlength=len(edges) + 1)
    chosen, trend = _best_partition(events, counts, len(x), rules)
    merged_edges = [_midpoint_below(present, float(edges[end - 1])) for end in chosen[:-1]]
    ev, ne = _merge(events, counts, chosen)
    miss_events = int(y[missing].sum())
    return FeatureBins(
        feature=name, kind="numeric", edges=merged_edges, events=[*ev, miss_events], non_events=[*ne, int(missing.sum()) - miss_events], trend=trend
    )


def _midpoint_below(values: np.ndarray, edge: float) -> float:
    """The cut halfway between `edge` (a training value) and the largest value below it: the
    same split of the training rows, but no value sits on the cut, so a last-digit difference
    in how a feature is computed (Polars against SQL, say) cannot move a row across it."""
    below = values[values < edge]
    return float((below.max() + edge) / 2) if below.size else edge


def _prebin_edges(values: np.ndarray, max_prebins: int) -> np.ndarray:
    """Cut points between quantile prebins (distinct values only: a value is never split)."""
    quantiles = np.quantile(values, np.linspace(0, 1, max_prebins + 1)[1:-1], method="higher")
    edges = np.unique(quantiles)
    return edges[edges > values.min()]  # nothing falls below the lowest value


# ---- categorical ------------------------------------------------------------------------------
def bin_categorical(name: str, x: pl.Series, y: np.ndarray, rules: BinningRules) -> FeatureBins:
    """Categories ordered by event rate, rare ones (below a tenth of the minimum bin share)
    pooled into one, then binned as an ordered feature (monotonic by that order)."""
    y = _target(name, y, len(x))
    frame = pl.DataFrame({"value": x.cast(pl.Utf8), "y": y})
    missing = frame.filter(pl.col("value").is_null())
    if missing.height == len(x):
        raise BinningError(f"feature {name!r} has no values (all {len(x):,} rows are missing)")
    per = (
        frame.filter(pl.col("value").is_not_null())
        .group_by("value").agg(pl.len().alias("rows"), pl.col("y").sum().alias("events"))
        .with_columns((pl.col("rows") < rules.min_bin_share * len(x) / 10).alias("rare"))
        .with_columns(((pl.col("events") + SMOOTHING) / (pl.col("rows") + 2 * SMOOTHING)).alias("rate"))
        .sort(["rare", "rate", "value"], descending=[True, False, False])
    )
    rare, common = per.filter(pl.col("rare")), per.filter(~pl.col("rare"))
    groups = ([sorted(rare["value"].to_list())] if rare.height else []) + [[v] for v in common["value"].to_list()]
    ordered_events = np.array(([rare["events"].sum()] if rare.height else []) + common["events"].to_list(), dtype=np.float64)
    ordered_counts = np.array(([rare["rows"].sum()] if rare.height else []) + common["rows"].to_list(), dtype=np.int64)
    chosen, _trend = _best_partition(ordered_events, ordered_counts, len(x), BinningRules(
        max_prebins=len(groups), max_bins=rules.max_bins, min_bin_share=rules.min_bin_share, trend="none",
    ))
    merged_groups, start = [], 0
    for end in chosen:
        merged_groups.append(sorted(c for g in groups[start:end] for c in g))
        start = end
    ev, ne = _merge(ordered_events, ordered_counts, chosen)
    miss_events = int(missing["y"].sum())
    return FeatureBins(
        feature=name, kind="categorical", groups=merged_groups, events=[*ev, miss_events], non_events=[*ne, missing.height - miss_events], trend="none",
    )


# ---- the optimal partition ------------------------------------------------------------------------
UNIMODAL = ("peak", "valley")


def _best_partition(events: np.ndarray, counts: np.ndarray, rows: int, rules: BinningRules) -> tuple[list[int], str]:
    """Ends of the chosen bins over the prebins, and the trend they follow. `auto` takes the
    better of rising and falling, or a peak or valley when that adds at least
    `unimodal_gain` (a share) to the best monotonic partition's information value."""
    if rules.trend == "auto":
        monotonic = max((_partition(events, counts, rows, rules, t) for t in ("ascending", "descending")), key=lambda o: o[0])
        unimodal = max((_partition(events, counts, rows, rules, t) for t in UNIMODAL), key=lambda o: o[0])
        best = unimodal if unimodal[0] > monotonic[0] * (1 + rules.unimodal_gain) else monotonic
        return best[1], best[2]
    _, ends, trend = _partition(events, counts, rows, rules, rules.trend)
    return ends, trend


def _partition(events: np.ndarray, counts: np.ndarray, rows: int, rules: BinningRules, trend: str) -> tuple[float, list[int], str]:
    """Dynamic programme over prebin boundaries. best[b][p][j][i]: the highest IV of splitting
    prebins [0, j) into b bins whose last bin is [i, j), in phase p (a peak rises in phase 0
    and falls in phase 1; a valley the other way; other trends have one phase)."""
    n = len(counts)
    total_events, total_non = events.sum(), (counts - events).sum()
    cum_e = np.concatenate([[0.0], np.cumsum(events)])
    cum_c = np.concatenate([[0], np.cumsum(counts)])
    min_rows = rules.min_bin_share * rows
    # One bin [i, j) for every i < j, vectorised: its rows, events, rate, IV part and validity.
    i_idx, j_idx = np.triu_indices(n + 1, k=1)
    rows_ij = cum_c[j_idx] - cum_c[i_idx]
    ev_ij = cum_e[j_idx] - cum_e[i_idx]
    ne_ij = rows_ij - ev_ij
    e_share = (ev_ij + SMOOTHING) / (total_events + SMOOTHING)
    g_share = (ne_ij + SMOOTHING) / (total_non + SMOOTHING)
    iv = (g_share - e_share) * np.log(g_share / e_share)
    ok = (rows_ij >= min_rows) & (ev_ij > 0) & (ne_ij > 0)
    rate = np.where(rows_ij > 0, ev_ij / np.maximum(rows_ij, 1), 0.0)
    IV = np.full((n + 1, n + 1), -np.inf)
    RATE = np.zeros((n + 1, n + 1))
    IV[i_idx[ok], j_idx[ok]] = iv[ok]
    RATE[i_idx, j_idx] = rate
    phases = 2 if trend in UNIMODAL else 1
    first_up = trend in ("ascending", "peak")  # phase 0 rises for these, falls for descending and valley
    max_bins = max(1, min(rules.max_bins, n))
    best = np.full((max_bins + 1, phases, n + 1, n + 1), -np.inf)
    back = np.full((max_bins + 1, phases, n + 1, n + 1, 2), -1, dtype=np.int64)  # (h, previous phase)
    best[1, 0, 1:, 0] = IV[0, 1:]
    # For every (j, i, h) at once: may bin [i, j) follow bin [h, i)? (h < i < j, [i, j) valid)
    last_rate = RATE.T[None, :, :]  # [_, i, h] -> rate of [h, i)
    next_rate = RATE.T[:, :, None]  # [j, i, _] -> rate of [i, j)
    order = np.arange(n + 1)
    shape = (order[None, :, None] < order[:, None, None]) & (order[None, None, :] < order[None, :, None])
    shape &= (IV.T > -np.inf)[:, :, None]
    up, down = shape & (last_rate < next_rate), shape & (last_rate > next_rate)
    rise, fall = (up, down) if first_up else (down, up)
    if trend == "none":
        steps = [(0, 0, shape)]
    elif phases == 1:
        steps = [(0, 0, rise)]
    else:  # stay in phase 0, turn (0 -> 1), or stay in phase 1
        steps = [(0, 0, rise), (0, 1, fall), (1, 1, fall)]
    for b in range(2, max_bins + 1):
        for was, now, allowed in steps:
            if was != now and b == 2:  # a turn needs a step before it: a peak or valley has at least 3 bins
                continue
            candidates = np.where(allowed, best[b - 1, was][None, :, :], -np.inf)  # [j, i, h]
            h = np.argmax(candidates, axis=2)
            value = np.take_along_axis(candidates, h[:, :, None], axis=2)[:, :, 0] + IV.T  # [j, i]
            better = value > best[b, now]
            best[b, now][better] = value[better]
            back[b, now][better] = np.stack([h, np.full_like(h, was)], axis=-1)[better]
    finals = best[:, phases - 1, n, :]  # a peak or valley must turn
    if finals.max() == -np.inf:  # no valid split: one bin holds everything
        return float(IV[0, n]) if IV[0, n] > -np.inf else 0.0, [n], "none"
    b, i = np.unravel_index(int(np.argmax(finals)), finals.shape)
    value = float(finals[b, i])
    ends, j, p = [n], n, phases - 1
    while b > 1:
        h, was = (int(v) for v in back[b, p, j, i])
        ends.append(int(i))
        j, i, b, p = int(i), h, b - 1, was
    return value, sorted(ends), trend if len(ends) > 1 else "none"


def _merge(events: np.ndarray, counts: np.ndarray, ends: list[int]) -> tuple[list[int], list[int]]:
    starts = [0, *ends[:-1]]
    ev = [int(round(events[s:e].sum())) for s, e in zip(starts, ends, strict=True)]
    rows = [int(counts[s:e].sum()) for s, e in zip(starts, ends, strict=True)]
    return ev, [r - e for r, e in zip(rows, ev, strict=True)]


def _target(name: str, y: np.ndarray, rows: int) -> np.ndarray:
    y = np.asarray(y)
    if len(y) != rows:
        raise BinningError(f"feature {name!r} has {rows:,} rows but the target has {len(y):,}")
    if y.dtype.kind not in "biuf":
        raise BinningError(f"the target must be 0/1 numbers, not {y.dtype} values")
    if np.isnan(y.astype(np.float64)).any() or not np.isin(y, (0, 1)).all():
        raise BinningError("the target must hold only 0 (good) and 1 (bad, the event)")
    if y.min() == y.max():
        raise BinningError(f"the target is constant ({int(y[0])} for every row): nothing to learn")
    return y.astype(np.float64)
