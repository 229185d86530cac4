"""Optimal binning: bins cover the range and every row, respect the minimum size and the
trend, keep missing values apart; WoE and IV against hand-computed values; bad training
data refused with a message that names the problem."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lendguard.scoring.binning import (
    BinningError,
    BinningRules,
    bin_categorical,
    bin_numeric,
    iv_parts,
    woe_of,
)


def test_woe_and_iv_match_hand_computed_values():
    # Bin 1: 2 bad, 8 good; bin 2: 8 bad, 2 good. Smoothed by 0.5: shares 2.5/11 and 8.5/11.
    woe = woe_of(np.array([2, 8]), np.array([8, 2]))
    assert woe == pytest.approx([math.log(3.4), -math.log(3.4)])
    assert iv_parts(np.array([2, 8]), np.array([8, 2])).sum() == pytest.approx(2 * (6 / 11) * math.log(3.4))
    # Unequal totals: 10 bad in all, 90 good; a bin with 1 bad and 45 good.
    woe = woe_of(np.array([1, 9]), np.array([45, 45]))
    assert woe[0] == pytest.approx(math.log((45.5 / 91) / (1.5 / 11)))


def assign(bins, x: np.ndarray) -> np.ndarray:
    """Each value's bin under the learned edges (the missing bin last)."""
    index = np.searchsorted(np.array(bins.edges), x, side="right")
    return np.where(np.isnan(x), bins.bins - 1, index)


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    rows=st.integers(200, 4000),
    missing_share=st.sampled_from([0.0, 0.05, 0.3]),
    min_share=st.sampled_from([0.02, 0.05, 0.1]),
    max_bins=st.integers(2, 10),
    trend=st.sampled_from(["auto", "ascending", "descending", "peak", "valley", "none"]),
    discrete=st.booleans(),
)
def test_bins_cover_every_row_and_keep_their_constraints(seed, rows, missing_share, min_share, max_bins, trend, discrete):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 6, rows).astype(float) if discrete else rng.normal(size=rows) * 100
    y = (rng.random(rows) < 1 / (1 + np.exp(-(x - x.mean()) / (x.std() + 1)))).astype(int)
    if y.min() == y.max():
        y[0] = 1 - y[0]
    x[rng.random(rows) < missing_share] = np.nan
    if np.isnan(x).all():
        x[0] = 1.0
    rules = BinningRules(max_prebins=20, max_bins=max_bins, min_bin_share=min_share, trend=trend)
    bins = bin_numeric("x", x, y, rules)
    assert list(bins.edges) == sorted(set(bins.edges))  # strictly increasing: no empty or overlapping bin
    counts = np.bincount(assign(bins, x), minlength=bins.bins)
    assert counts.tolist() == [e + n for e, n in zip(bins.events, bins.non_events, strict=True)]  # every row, once
    assert np.bincount(assign(bins, x), weights=y, minlength=bins.bins).astype(int).tolist() == bins.events
    assert bins.events[-1] + bins.non_events[-1] == int(np.isnan(x).sum())  # missing apart
    body = counts[:-1]
    assert bins.bins - 1 <= max_bins
    if bins.bins > 2:  # a split happened: every bin is big enough and holds both outcomes
        assert (body >= min_share * rows).all()
        assert all(e > 0 and n > 0 for e, n in zip(bins.events[:-1], bins.non_events[:-1], strict=True))
    rates = np.array(bins.events[:-1]) / body
    if bins.trend == "ascending":
        assert (np.diff(rates) > 0).all()
    if bins.trend == "descending":
        assert (np.diff(rates) < 0).all()
    if bins.trend in ("peak", "valley"):  # one turn: rises then falls (peak) or the reverse
        steps = np.sign(np.diff(rates))
        assert (steps != 0).all() and (np.diff(steps) != 0).sum() == 1
        assert steps[0] == (1 if bins.trend == "peak" else -1)
    if trend in ("ascending", "descending", "peak", "valley") and bins.bins > 2:
        assert bins.trend == trend or (trend in ("peak", "valley") and bins.bins == 3 and bins.trend == "none")


def test_a_clear_signal_gets_a_monotonic_split_with_high_iv():
    rng = np.random.default_rng(3)
    x = rng.normal(size=50_000)
    y = (rng.random(50_000) < 1 / (1 + np.exp(-(-2 + 1.5 * x)))).astype(int)
    bins = bin_numeric("x", pl.Series(x), y, BinningRules(max_bins=6))
    assert bins.trend == "ascending" and bins.bins - 1 == 6 and bins.iv() > 1.0
    noise = bin_numeric("noise", rng.normal(size=50_000), y, BinningRules(max_bins=6))
    assert noise.iv() < 0.02  # no signal, little information


def test_auto_finds_a_u_shape_but_keeps_a_monotonic_feature_monotonic():
    rng = np.random.default_rng(8)
    age = rng.uniform(18, 70, 60_000)
    y = (rng.random(60_000) < 1 / (1 + np.exp(-(-2.5 + ((age - 40) / 12) ** 2)))).astype(int)
    bins = bin_numeric("age", age, y, BinningRules(max_bins=8))
    rates = np.array(bins.events[:-1]) / (np.array(bins.events[:-1]) + bins.non_events[:-1])
    assert bins.trend == "valley" and rates.argmin() not in (0, len(rates) - 1)
    monotonic_only = bin_numeric("age", age, y, BinningRules(max_bins=8, unimodal_gain=1e9))
    assert monotonic_only.trend in ("ascending", "descending") and bins.iv() > 1.2 * monotonic_only.iv()
    x = rng.normal(size=60_000)
    y = (rng.random(60_000) < 1 / (1 + np.exp(-(-2 + x)))).astype(int)
    assert bin_numeric("x", x, y, BinningRules(max_bins=8)).trend == "ascending"  # noise does not bend it


def test_categories_are_grouped_by_event_rate_and_rare_ones_pooled():
    rng = np.random.default_rng(5)
    rows = 40_000
    rates = {"A": 0.05, "B": 0.1, "C": 0.2, "D": 0.05, "E": 0.3, "F": 0.12, "G": 0.5}
    values = rng.choice(list(rates), size=rows, p=[0.3, 0.2, 0.2, 0.1, 0.1, 0.095, 0.005])
    y = (rng.random(rows) < np.vectorize(rates.get)(values)).astype(int)
    series = pl.Series("c", values).scatter(np.arange(0, rows, 40), None)
    bins = bin_categorical("c", series, y, BinningRules(max_bins=5, min_bin_share=0.05))
    assert sorted(c for g in bins.groups for c in g) == sorted(rates)  # every category in one group
    assert any(g == ["A", "D"] for g in bins.groups)  # equal rates end up together
    assert next(g for g in bins.groups if "G" in g) != ["G"]  # 0.5% of rows: pooled with others
    assert bins.events[-1] + bins.non_events[-1] == rows // 40  # the nulls
    body = np.array(bins.events[:-1]) / (np.array(bins.events[:-1]) + np.array(bins.non_events[:-1]))
    assert (np.diff(body) > 0).all()


@pytest.mark.parametrize(
    ("x", "y", "message"),
    [
        (np.array([1.0, 2.0, 3.0]), np.array([1, 1, 1]), "constant"),
        (np.array([np.nan, np.nan, np.nan]), np.array([0, 1, 0]), "no values"),
        (np.array([1.0, 2.0, 3.0]), np.array(["bad", "good", "bad"]), "0/1 numbers"),
        (np.array([1.0, 2.0, 3.0]), np.array([0, 1, 2]), "only 0"),
        (np.array([1.0, 2.0]), np.array([0, 1, 0]), "rows"),
    ],
)
def test_bad_training_data_is_refused_with_a_clear_message(x, y, message):
    with pytest.raises(BinningError, match=message):
        bin_numeric("x", x, y, BinningRules())


def test_an_all_missing_category_is_refused():
    with pytest.raises(BinningError, match="'c' has no values"):
        bin_categorical("c", pl.Series("c", [None, None, None], dtype=pl.Utf8), np.array([0, 1, 0]), BinningRules())
