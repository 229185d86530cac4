"""Property: the smallest change CR05 advises is a change that works, and none smaller does."""

from __future__ import annotations

import itertools

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from lendguard.scoring.binning import FeatureBins
from lendguard.scoring.scaling import Scale
from lendguard.scoring.scorecard import FeatureCard, Scorecard
from lendguard.visibility import credit_score as cs


@st.composite
def cards_and_rows(draw):
    features = []
    for k in range(draw(st.integers(1, 4))):
        numeric = draw(st.booleans())
        bins = draw(st.integers(1, 4))  # bins besides the missing one
        points = draw(st.lists(st.floats(-40, 40, allow_nan=False).map(lambda x: round(x, 2)), min_size=bins + 1, max_size=bins + 1))
        if numeric:
            fb = FeatureBins(feature=f"f{k}", kind="numeric", edges=[float(e) for e in range(1, bins)], events=[1] * (bins + 1), non_events=[1] * (bins + 1))
        else:
            fb = FeatureBins(feature=f"f{k}", kind="categorical", groups=[[f"c{b}"] for b in range(bins)], events=[1] * (bins + 1), non_events=[1] * (bins + 1))
        features.append(FeatureCard(bins=fb, coefficient=1.0, points=points))
    card = Scorecard(target="bad", features=features, intercept=0.0, scale=Scale(factor=28.85, offset=487.1), iv={}, dropped={})
    rows = draw(st.integers(1, 12))
    index = np.array([[draw(st.integers(0, f.bins.bins - 1)) for f in features] for _ in range(rows)])
    minimum = draw(st.floats(-100, 100, allow_nan=False))
    fixed = frozenset(f"f{k}" for k in range(len(features)) if draw(st.booleans()) and k > 0)
    return card, index, minimum, fixed


def _distance(feature, current: int, target: int) -> int:
    missing = feature.bins.bins - 1
    if feature.bins.kind == "categorical":
        return int(current != target)
    return 1 if current == missing else abs(target - current)


@settings(max_examples=300, deadline=None)
@given(cards_and_rows())
def test_the_advised_change_lifts_the_score_and_no_smaller_one_does(case):
    card, index, minimum, fixed = case
    points = card.points_of(index)
    scores = np.round(points.sum(axis=1), cs.DECIMALS)
    shortfall = np.round(minimum - scores, cs.DECIMALS)
    fix = cs.smallest_fix(card, index, points, shortfall, fixed)
    names = [f.name for f in card.features]
    for r in range(index.shape[0]):
        feature, band, count = fix[cs.FIX_FEATURE][r], fix[cs.FIX_BAND][r], fix[cs.FIX_COUNT][r]
        if shortfall[r] <= 0:
            assert feature is None and count is None
            continue
        # Every single move the user could make (never into "missing", never a fixed feature).
        moves = [
            (_distance(f, index[r, k], b), f.points[b] - points[r, k], k, b)
            for k, f in enumerate(card.features) if f.name not in fixed
            for b in range(f.bins.bins - 1) if _distance(f, index[r, k], b) > 0
        ]
        working = [m for m in moves if m[1] >= shortfall[r] - 1e-9]
        if feature is None:
            assert not working
            best = sorted((max(f.points[:-1]) - points[r, k], k) for k, f in enumerate(card.features) if f.name not in fixed and f.bins.bins > 1)
            reachable = sum(max(g, 0) for g, _ in best) >= shortfall[r] - 1e-9
            assert (count is not None) == reachable
            if count is not None:
                chosen = fix[cs.FIX_FEATURES][r].split(", ")
                assert len(chosen) == count and not fixed & set(chosen)
                gains = {names[k]: max(g, 0) for g, k in best}
                assert sum(gains[n] for n in chosen) >= shortfall[r] - 1e-9
                # No fewer features would do.
                assert all(sum(c) < shortfall[r] - 1e-9 for c in itertools.combinations(sorted(gains.values(), reverse=True)[: count - 1], count - 1)) or count == 1
            continue
        k = names.index(feature)
        assert feature not in fixed
        b = card.features[k].bins.labels.index(band)
        gain = card.features[k].points[b] - points[r, k]
        assert gain >= shortfall[r] - 1e-9
        assert _distance(card.features[k], index[r, k], b) == min(m[0] for m in working)
