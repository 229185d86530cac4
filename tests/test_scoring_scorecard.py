"""The scorecard: points scaling (doubling the odds adds exactly `pdo` points), a fit on
data whose truth is known, selection by IV and correlation, reasons in order, the artifact
round trip, and bad data refused with clear errors."""

from __future__ import annotations

import json
import math

import numpy as np
import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from lendguard.policy import load_policy
from lendguard.policy.scoring import ScoreScaling
from lendguard.scoring.artifact import (
    MODEL_FILE,
    TABLE_FILE,
    load_scorecard,
    save_scorecard,
)
from lendguard.scoring.reasons import reason_ranks, reasons_for_row
from lendguard.scoring.scaling import Scale
from lendguard.scoring.scorecard import ScorecardError, fit_scorecard

POLICY = load_policy()


@given(
    base_points=st.floats(100, 1000), base_odds=st.floats(0.5, 200), pdo=st.floats(5, 100), odds=st.floats(0.01, 1000),
)
def test_doubling_the_odds_adds_exactly_pdo_points(base_points, base_odds, pdo, odds):
    scale = Scale.of(ScoreScaling(base_points=base_points, base_odds=base_odds, pdo=pdo))
    assert scale.score(math.log(base_odds)) == pytest.approx(base_points)
    assert scale.score(math.log(2 * odds)) - scale.score(math.log(odds)) == pytest.approx(pdo)
    assert scale.bad_probability(scale.score(math.log(odds))) == pytest.approx(1 / (1 + odds))


def population(rows: int = 60_000, seed: int = 0) -> tuple[pl.DataFrame, np.ndarray]:
    """Known truth: the log-odds of the event are linear in three features; two are noise;
    one is a near copy of the strongest; a category matters."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, 3))
    region = rng.choice(["north", "south", "east", "west"], rows)
    logit = -2.2 + 0.9 * x[:, 0] - 0.6 * x[:, 1] + 0.4 * x[:, 2] + np.select([region == "south", region == "east"], [0.8, -0.5], 0.0)
    y = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(int)
    strong = x[:, 0].copy()
    strong[rng.random(rows) < 0.05] = np.nan
    frame = pl.DataFrame({
        "strong": strong, "middle": x[:, 1], "weak": x[:, 2], "copy_of_strong": x[:, 0] + rng.normal(scale=0.05, size=rows),
        "noise": rng.normal(size=rows), "region": region, "bad": y,
    })
    return frame, logit


def test_a_fit_on_known_truth_keeps_the_signal_and_drops_the_rest():
    from sklearn.metrics import roc_auc_score

    frame, logit = population()
    card = fit_scorecard(frame, "bad", POLICY.scoring)
    names = [f.name for f in card.features]
    assert set(names) == {"strong", "middle", "weak", "region"} or set(names) == {"copy_of_strong", "middle", "weak", "region"}
    assert "noise" in card.dropped and "below iv_min" in card.dropped["noise"]
    assert any("correlation" in why for why in card.dropped.values())  # the copy (or the original) goes
    assert all(f.coefficient < 0 for f in card.features)  # more WoE, fewer events
    scores = card.score(frame)
    assert roc_auc_score(frame["bad"], -scores) > roc_auc_score(frame["bad"], logit) - 0.01  # close to the truth
    by_feature = card.points(frame)
    assert np.allclose(by_feature.sum(axis=1), scores)  # a score is the sum of its points
    # The scale holds on the model's own odds: the mean predicted bad rate is about the observed one.
    assert card.bad_probability(frame).mean() == pytest.approx(frame["bad"].mean(), rel=0.05)
    table = card.table()
    assert set(table["feature"]) == set(names) and table.filter(pl.col("bin") == "missing").height == len(names)


def test_reasons_are_the_costliest_features_in_order():
    frame, _ = population(20_000, seed=1)
    card = fit_scorecard(frame, "bad", POLICY.scoring)
    points = card.points(frame)
    order, lost = reason_ranks(card, points, 3)
    assert (np.diff(lost, axis=1) <= 1e-9).all()  # largest loss first
    best = np.array([max(f.points) for f in card.features])
    row = int(np.argmin(card.score(frame)))  # the worst-scored row
    reasons = reasons_for_row(card, card.bin_index(frame)[row], points[row], 3)
    expected = sorted(range(len(card.features)), key=lambda k: -(best[k] - points[row, k]))[:3]
    assert [r.feature for r in reasons] == [card.features[k].name for k in expected]
    assert reasons[0].points_lost == pytest.approx(best[expected[0]] - points[row, expected[0]], abs=0.01)
    assert reasons[0].zh and reasons[0].en and reasons[0].code == f"SC:{reasons[0].feature}"
    top = int(np.argmax(card.score(frame)))
    assert all(r.points_lost > 0 for r in reasons_for_row(card, card.bin_index(frame)[top], points[top], 3))


def test_the_artifact_round_trips_and_scores_the_same(tmp_path):
    frame, _ = population(20_000, seed=2)
    card = fit_scorecard(frame, "bad", POLICY.scoring)
    written = save_scorecard(card, tmp_path / "model", POLICY)
    assert written["model"].name == MODEL_FILE and written["table"].name == TABLE_FILE
    loaded = load_scorecard(tmp_path / "model")
    assert np.array_equal(loaded.score(frame), card.score(frame))
    assert loaded.meta["policy_version"] == POLICY.version and loaded.dropped == card.dropped
    unseen = frame.with_columns(pl.lit("mars").alias("region"))  # a category training never saw: the missing bin
    assert np.isfinite(loaded.score(unseen)).all()
    document = json.loads(written["model"].read_text())
    document["features"][0]["points"] = document["features"][0]["points"][:-1]
    (tmp_path / "broken.json").write_text(json.dumps(document))
    with pytest.raises(ScorecardError, match="features.0"):
        load_scorecard(tmp_path / "broken.json")
    with pytest.raises(ScorecardError, match="lacks the model's features"):
        loaded.score(frame.drop("middle"))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda f: f.with_columns(pl.lit(1).alias("bad")), "constant"),
        (lambda f: f.with_columns(pl.when(pl.col("bad") == 1).then(pl.lit("bad")).otherwise(pl.lit("good")).alias("bad")), "map it first"),
        (lambda f: f.with_columns(pl.col("bad") * 2), "only 0"),
        (lambda f: f.rename({"bad": "outcome"}), "no target column"),
    ],
)
def test_bad_training_data_is_refused(change, message):
    frame, _ = population(2_000, seed=3)
    with pytest.raises(ScorecardError, match=message):
        fit_scorecard(change(frame), "bad", POLICY.scoring)


def test_an_all_missing_feature_is_dropped_with_its_reason():
    frame, _ = population(5_000, seed=4)
    card = fit_scorecard(frame.with_columns(pl.lit(None, dtype=pl.Float64).alias("empty")), "bad", POLICY.scoring)
    assert "no values" in card.dropped["empty"]
