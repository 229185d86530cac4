"""The scoring pipeline past the scorecard itself: PSI and drift against hand-computed
values, AUC/KS/Gini and calibration on a hand example, the target mapping and the splits,
training and validating the scorecard and its challenger on the real German Credit data,
the swap set, the saved run, vectorised reasons against the row-by-row ones, and the
synthetic outcomes whose truth is known."""

from __future__ import annotations

import datetime as dt
import json
import math

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lendguard.policy import load_policy
from lendguard.scoring.challenger import load_challenger
from lendguard.scoring.datasets import german_credit
from lendguard.scoring.metrics import (
    band_edges,
    band_of,
    calibration,
    distribution,
    performance,
)
from lendguard.scoring.monitoring import FLOOR, drift_report, level, psi
from lendguard.scoring.reasons import reason_table, reasons_for_row
from lendguard.scoring.scorecard import ScorecardError
from lendguard.scoring.training import (
    REPORT_FORMAT,
    outcome_frame,
    save_run,
    split_rows,
    swap_set,
    train_models,
)

POLICY = load_policy()
LIMITS = POLICY.scoring.monitoring
RULES = POLICY.scoring.validation
TARGET = "creditability"
FEW = ["status_of_existing_checking_account", "duration_in_month", "credit_amount"]
AS_OF = dt.datetime(2026, 11, 24, 0, 0, tzinfo=dt.timezone.utc)


# ---- PSI ----------------------------------------------------------------------------------------
def test_psi_matches_the_hand_computed_value():
    # Shares 0.5/0.3/0.2 against 0.4/0.4/0.2: the last bin adds nothing.
    expected = (0.4 - 0.5) * math.log(0.4 / 0.5) + (0.4 - 0.3) * math.log(0.4 / 0.3) + (0.2 - 0.2) * math.log(0.2 / 0.2)
    assert psi(np.array([50, 30, 20]), np.array([40, 40, 20])) == pytest.approx(expected, abs=1e-12)
    assert expected == pytest.approx(0.0510825624, abs=1e-9)
    # Counts and shares are the same thing to PSI.
    assert psi(np.array([0.5, 0.3, 0.2]), np.array([400, 400, 200])) == pytest.approx(expected, abs=1e-12)
    assert psi(np.array([7, 7, 7]), np.array([1, 1, 1])) == 0.0


def test_an_empty_bin_counts_with_the_floor_share():
    # Expected 100/0, actual 50/50: the empty expected bin is FLOOR (not renormalised).
    hand = (0.5 - 1.0) * math.log(0.5 / 1.0) + (0.5 - FLOOR) * math.log(0.5 / FLOOR)
    assert psi(np.array([100, 0]), np.array([50, 50])) == pytest.approx(hand, abs=1e-12)
    assert psi(np.array([50, 50]), np.array([100, 0])) == pytest.approx(hand, abs=1e-12)  # symmetric
    assert math.isfinite(psi(np.array([1, 0, 0]), np.array([0, 0, 1])))


@pytest.mark.parametrize(
    ("expected", "actual", "message"),
    [
        ([1, 2, 3], [1, 2], "same bins"),
        ([[1, 2]], [1, 2], "same bins"),
        ([0, 0], [1, 2], "at least one row"),
        ([1, 2], [0, 0], "at least one row"),
        ([], [], "at least one row"),
    ],
)
def test_psi_refuses_bins_that_do_not_match_or_an_empty_side(expected, actual, message):
    with pytest.raises(ValueError, match=message):
        psi(np.array(expected), np.array(actual))


@settings(max_examples=60, deadline=None)
@given(
    expected=st.lists(st.integers(0, 1000), min_size=2, max_size=12).filter(lambda c: sum(c) > 0),
    data=st.data(), scale=st.integers(1, 50),
)
def test_psi_is_non_negative_symmetric_and_zero_on_equal_shares(expected, data, scale):
    actual = data.draw(st.lists(st.integers(0, 1000), min_size=len(expected), max_size=len(expected)).filter(lambda c: sum(c) > 0))
    e, a = np.array(expected), np.array(actual)
    value = psi(e, a)
    assert value >= 0
    assert value == pytest.approx(psi(a, e), rel=1e-12, abs=1e-15)
    assert psi(e, e * scale) == pytest.approx(0.0, abs=1e-12)
    assert value == pytest.approx(psi(e * scale, a), rel=1e-9, abs=1e-15)


def test_levels_follow_the_policy_limits():
    assert (LIMITS.psi_warn, LIMITS.psi_alert) == (0.10, 0.25)
    assert level(0.0, LIMITS) == "ok"
    assert level(np.nextafter(LIMITS.psi_warn, 0), LIMITS) == "ok"
    assert level(LIMITS.psi_warn, LIMITS) == "warn"
    assert level(np.nextafter(LIMITS.psi_alert, 0), LIMITS) == "warn"
    assert level(LIMITS.psi_alert, LIMITS) == "alert"
    assert level(5.0, LIMITS) == "alert"


# ---- German Credit: one fit shared by the tests below ---------------------------------------
@pytest.fixture(scope="module")
def german() -> pl.DataFrame:
    return outcome_frame(german_credit(), TARGET, "bad")


@pytest.fixture(scope="module")
def german_run(german):
    return train_models(german, TARGET, POLICY.scoring, policy_version=POLICY.version)


@pytest.fixture(scope="module")
def limited_run(german):
    return train_models(german, TARGET, POLICY.scoring, features=FEW, challenger=False)


def test_drift_is_nil_on_the_training_rows(german_run):
    card, train = german_run.card, german_run.splits.train
    drifts = drift_report(card, train, LIMITS)
    assert [d.name for d in drifts] == ["score", *(f.name for f in card.features)]
    assert all(d.index == pytest.approx(0.0, abs=1e-12) and d.level == "ok" for d in drifts)
    score = drifts[0]
    assert len(score.bins) == len(card.meta["score_band_edges"]) + 1 == RULES.score_bands
    assert sum(b["expected"] for b in score.bins) == pytest.approx(1.0, abs=1e-5)
    # The held-out rows come from the same population: no index reaches even the warning.
    assert all(d.level == "ok" for d in drift_report(card, german_run.splits.test, LIMITS))


def test_a_shifted_population_raises_the_alert_on_the_shifted_feature(german_run, german):
    card = german_run.card
    assert "credit_amount" in [f.name for f in card.features]
    tripled = {d.name: d for d in drift_report(card, german.with_columns(pl.col("credit_amount") * 3), LIMITS)}
    assert tripled["credit_amount"].level == "alert" and tripled["credit_amount"].index > 1.0
    untouched = [d for name, d in tripled.items() if name not in ("score", "credit_amount")]
    assert all(d.level == "ok" for d in untouched)
    assert tripled["score"].index > drift_report(card, german, LIMITS)[0].index  # the score moves with it
    long = {d.name: d for d in drift_report(card, german.filter(pl.col("duration_in_month") >= 24), LIMITS)}
    assert long["duration_in_month"].level == "alert"
    # The CSI is the PSI of the feature's bins: recomputed from the reported shares.
    d = long["duration_in_month"]
    assert psi(np.array([b["expected"] for b in d.bins]), np.array([b["actual"] for b in d.bins])) == pytest.approx(d.index, rel=1e-4)


# ---- metrics ------------------------------------------------------------------------------------
def test_auc_ks_gini_on_a_hand_example():
    # Pairs (bad, good): 0.35>0.1 yes, 0.35>0.4 no, 0.8>both yes: AUC 3/4. Sorted: bad, good,
    # bad, good: the gap between the cumulative shares peaks at 0.5.
    found = performance(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8]))
    assert (found.rows, found.events, found.event_rate) == (4, 2, 0.5)
    assert found.auc == pytest.approx(0.75, abs=1e-12)
    assert found.ks == pytest.approx(0.5, abs=1e-12)
    assert found.gini == pytest.approx(0.5, abs=1e-12)
    perfect = performance(np.array([0, 0, 1, 1]), np.array([0.1, 0.2, 0.3, 0.4]))
    assert (perfect.auc, perfect.ks, perfect.gini) == (1.0, 1.0, 1.0)
    assert performance(np.array([0, 1]), np.array([0.9, 0.1])).gini == -1.0


def test_a_constant_outcome_gives_none_not_an_error():
    found = performance(np.array([0, 0, 0]), np.array([0.1, 0.2, 0.3]))
    assert (found.rows, found.events, found.event_rate) == (3, 0, 0.0)
    assert found.auc is None and found.ks is None and found.gini is None  # null in strict JSON, not NaN
    empty = performance(np.array([], dtype=int), np.array([]))
    assert empty.rows == 0 and empty.event_rate is None and empty.auc is None
    assert set(found.as_dict()) == {"rows", "events", "event_rate", "auc", "ks", "gini"}


def test_calibration_by_band_against_hand_values():
    scores = np.array([1, 2, 3, 4, 5, 6, 2.5])
    y = np.array([0, 1, 1, 1, 0, 0, 0])
    p = np.array([0.1, 0.3, 0.5, 0.7, 0.2, 0.2, 0.9])
    edges = np.array([2.5, 4.5, 100.0])
    assert band_of(scores, edges).tolist() == [0, 0, 1, 1, 2, 2, 1]  # a score on an edge goes up
    rows = calibration(y, p, scores, edges)
    assert [r["band"] for r in rows] == ["[-inf, 2.5)", "[2.5, 4.5)", "[4.5, 100)", "[100, inf)"]
    assert [r["rows"] for r in rows] == [2, 3, 2, 0] and sum(r["rows"] for r in rows) == len(y)
    assert [r["observed_event_rate"] for r in rows[:3]] == pytest.approx([0.5, 2 / 3, 0.0])
    assert [r["predicted_event_rate"] for r in rows[:3]] == pytest.approx([0.2, 0.7, 0.2])
    assert rows[3]["observed_event_rate"] is None and rows[3]["predicted_event_rate"] is None


def test_band_edges_are_equal_population_cuts():
    assert band_edges(np.arange(100), 4).tolist() == [24.75, 49.5, 74.25]
    assert np.bincount(band_of(np.arange(100), band_edges(np.arange(100), 4))).tolist() == [25, 25, 25, 25]
    assert band_edges(np.full(50, 3.0), 10).tolist() == [3.0]  # ties collapse to one cut
    histogram = distribution(np.array([1.0, 2.0, 3.0, 4.0]), np.array([0, 1, 0, 1]), bins=2)
    assert histogram == {"edges": [1.0, 2.5, 4.0], "good": [1, 1], "bad": [1, 1]}


# ---- the target and the splits ------------------------------------------------------------------
def test_the_event_value_maps_a_text_target():
    raw = german_credit()
    mapped = outcome_frame(raw, TARGET, "bad")
    assert mapped[TARGET].dtype == pl.Int8 and mapped[TARGET].sum() == 300 == (raw[TARGET] == "bad").sum()
    assert outcome_frame(raw, TARGET, "good")[TARGET].sum() == 700
    assert outcome_frame(raw, TARGET) is raw  # no event: left as it is


def test_bad_targets_are_refused_with_the_column_named():
    raw = german_credit()
    with pytest.raises(ScorecardError, match=r"no row of 'creditability' equals the event value 'awful'"):
        outcome_frame(raw, TARGET, "awful")
    with pytest.raises(ScorecardError, match="no target column 'outcome'"):
        outcome_frame(raw, "outcome", "bad")
    with pytest.raises(ScorecardError, match="--event"):
        train_models(outcome_frame(raw, TARGET), TARGET, POLICY.scoring)
    only_bad = outcome_frame(raw.filter(pl.col(TARGET) == "bad"), TARGET, "bad")
    with pytest.raises(ScorecardError, match="constant"):
        train_models(only_bad, TARGET, POLICY.scoring)
    holes = raw.with_columns(pl.when(pl.int_range(pl.len()) < 3).then(None).otherwise(pl.col(TARGET)).alias(TARGET))
    with pytest.raises(ScorecardError, match="3 missing values"):
        outcome_frame(holes, TARGET, "bad")


def test_an_all_missing_feature_is_dropped_with_its_reason(german):
    run = train_models(german.with_columns(pl.lit(None, dtype=pl.Float64).alias("empty")), TARGET, POLICY.scoring)
    assert "empty" in run.card.dropped and "no values" in run.card.dropped["empty"]
    assert "empty" not in [f.name for f in run.card.features] and "empty" not in run.challenger.features
    assert {"feature": "empty", "iv": None, "selected": False, "reason": run.card.dropped["empty"]} in run.report["iv"]


def timed(rows: int, seed: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    return pl.DataFrame({"id": np.arange(rows), "month": rng.integers(1, 13, rows), "y": rng.integers(0, 2, rows)})


def test_the_out_of_time_split_holds_exactly_the_latest_rows():
    frame = timed(1000)
    splits = split_rows(frame, POLICY.scoring, seed=7, time_column="month")
    late_months = frame.filter(pl.col("month") >= frame["month"].quantile(0.8, "higher"))
    assert splits.out_of_time.sort("id").equals(late_months.sort("id"))  # whole months: 11 and 12
    assert 0.15 < splits.out_of_time.height / 1000 < 0.3
    in_time = pl.concat([splits.train, splits.test])
    assert splits.out_of_time["month"].min() > in_time["month"].max()  # no month on both sides
    assert abs(splits.test.height / in_time.height - RULES.test_share) < 0.05
    everyone = pl.concat([in_time, splits.out_of_time])["id"]
    assert everyone.sort().to_list() == list(range(1000))
    assert [name for name, _ in splits.items()] == ["train", "test", "out_of_time"]


def test_the_test_split_is_deterministic_for_a_seed():
    frame = timed(600)
    first, again = split_rows(frame, POLICY.scoring, seed=3), split_rows(frame, POLICY.scoring, seed=3)
    assert first.test["id"].to_list() == again.test["id"].to_list() and first.out_of_time is None
    assert first.test["id"].to_list() != split_rows(frame, POLICY.scoring, seed=4).test["id"].to_list()
    assert first.train.height + first.test.height == 600


@settings(max_examples=40, deadline=None)
@given(rows=st.integers(40, 400), seed=st.integers(0, 2**32 - 1), months=st.integers(1, 24))
def test_splits_partition_the_rows_and_the_late_rows_come_last(rows, seed, months):
    rng = np.random.default_rng(seed)
    frame = pl.DataFrame({"id": np.arange(rows), "month": rng.integers(1, months + 1, rows)})
    cut = frame["month"].quantile(1 - RULES.out_of_time_share, "higher")
    if frame.filter(pl.col("month") < cut).height < 2:  # every month is late: nothing left in time
        with pytest.raises(ScorecardError, match="split is empty"):
            split_rows(frame, POLICY.scoring, seed=seed, time_column="month")
        return
    try:
        splits = split_rows(frame, POLICY.scoring, seed=seed, time_column="month")
    except ScorecardError as exc:  # a handful of in-time rows may all fall on one side of the random split
        assert "split is empty" in str(exc)
        return
    parts = [part["id"].to_list() for _, part in splits.items()]
    assert sorted(sum(parts, [])) == list(range(rows))
    assert splits.out_of_time.height == frame.filter(pl.col("month") >= cut).height
    assert splits.out_of_time["month"].min() > max(splits.train["month"].max(), splits.test["month"].max())


def test_too_few_rows_or_a_bad_time_column_are_refused():
    with pytest.raises(ScorecardError, match="split is empty"):
        split_rows(timed(1), POLICY.scoring, seed=7, time_column="month")
    with pytest.raises(ScorecardError, match="split is empty"):
        split_rows(timed(0), POLICY.scoring, seed=7)
    with pytest.raises(ScorecardError, match="no time column 'when'"):
        split_rows(timed(50), POLICY.scoring, seed=7, time_column="when")
    gaps = timed(50).with_columns(pl.when(pl.col("id") == 0).then(None).otherwise(pl.col("month")).alias("month"))
    with pytest.raises(ScorecardError, match="'month' has 1 missing values"):
        split_rows(gaps, POLICY.scoring, seed=7, time_column="month")


# ---- training and validating on German Credit -----------------------------------------------
def test_the_scorecard_and_its_challenger_on_german_credit(german_run):
    report = german_run.report
    card_test = report["models"]["scorecard"]["test"]
    assert report["format"] == REPORT_FORMAT and report["target"] == TARGET and report["policy_version"] == POLICY.version
    assert report["rows"] == {"train": german_run.splits.train.height, "test": german_run.splits.test.height}
    assert sum(report["rows"].values()) == 1000
    assert card_test["auc"] > 0.72 and card_test["gini"] == pytest.approx(2 * card_test["auc"] - 1)
    assert report["models"]["scorecard"]["train"]["auc"] > card_test["auc"]  # it fits its own rows better
    challenger = report["models"]["challenger"]
    assert challenger["test"]["auc"] > 0.65 and challenger["rounds"] >= 1 and challenger["features"] == 20
    assert report["gap"]["test"] == pytest.approx(card_test["auc"] - challenger["test"]["auc"], abs=1e-6)
    assert set(report) >= {"models", "calibration", "iv", "distribution", "gap"} and "swap_set" not in report
    for split, part in german_run.splits.items():
        assert sum(r["rows"] for r in report["calibration"][split]) == part.height
        assert len(report["calibration"][split]) == RULES.score_bands
    train = german_run.splits.train
    assert sum(report["distribution"]["good"]) + sum(report["distribution"]["bad"]) == train.height
    assert sum(report["distribution"]["bad"]) == train[TARGET].sum()
    selected = {r["feature"] for r in report["iv"] if r["selected"]}
    assert selected == {f.name for f in german_run.card.features} and len(report["iv"]) == 20
    assert [r["iv"] for r in report["iv"]] == sorted((r["iv"] for r in report["iv"]), reverse=True)
    assert german_run.card.meta["score_band_rows"] == np.bincount(
        band_of(german_run.card.score(train), np.array(german_run.card.meta["score_band_edges"]))).tolist()


def test_the_swap_set_against_a_previous_model(german, german_run, limited_run):
    assert [f.name for f in limited_run.card.features] == FEW
    run = train_models(german, TARGET, POLICY.scoring, previous=limited_run.card, challenger=False)
    swap = run.report["swap_set"]
    test = run.splits.test
    cells = [swap[name] for name in ("both", "swap_in", "swap_out", "neither")]
    assert sum(c["rows"] for c in cells) == test.height
    assert sum(c["events"] for c in cells) == test[TARGET].sum()
    approved_new = (swap["both"]["rows"] + swap["swap_in"]["rows"]) / test.height
    approved_old = (swap["both"]["rows"] + swap["swap_out"]["rows"]) / test.height
    assert swap["approval_share"] == RULES.approval_share
    assert approved_new == pytest.approx(RULES.approval_share, abs=0.03)
    assert approved_old == pytest.approx(RULES.approval_share, abs=0.03)
    assert swap["approved_event_rate"]["new"] == pytest.approx(
        (swap["both"]["events"] + swap["swap_in"]["events"]) / (swap["both"]["rows"] + swap["swap_in"]["rows"]))
    for model, name in ((run.card, "new"), (limited_run.card, "previous")):  # approved: at or above the cutoff
        scores = model.score(test)
        cut = np.quantile(scores, 1 - RULES.approval_share)
        assert swap["cutoffs"][name] == round(cut, 3)
        cells = ("both", "swap_in") if name == "new" else ("both", "swap_out")
        assert sum(swap[c]["rows"] for c in cells) == (scores >= cut).sum()
        if name == "previous":  # three features: few distinct scores, rows sit on the cutoff itself
            assert (scores == cut).sum() > 0
    same = swap_set(run.card, run.card, test, TARGET, 0.7)  # a model against itself swaps nothing
    assert same["swap_in"]["rows"] == same["swap_out"]["rows"] == 0 and same["swap_in"]["event_rate"] is None


def test_the_saved_run_loads_and_scores_the_same(german, german_run, tmp_path):
    from lendguard.scoring.artifact import load_scorecard

    paths = save_run(german_run, tmp_path / "model", POLICY)
    names = {p.name for p in (tmp_path / "model").iterdir()}
    assert names == {"scorecard.json", "scorecard.csv", "challenger.txt", "challenger.json", "validation.json", "validation.html"}
    card = load_scorecard(paths["model"])
    assert np.array_equal(card.score(german), german_run.card.score(german))
    assert np.array_equal(card.bad_probability(german), german_run.card.bad_probability(german))
    assert card.meta["score_band_edges"] == german_run.card.meta["score_band_edges"]
    assert [d.index for d in drift_report(card, german, LIMITS)] == [d.index for d in drift_report(german_run.card, german, LIMITS)]
    challenger = load_challenger(tmp_path / "model")
    assert challenger.features == german_run.challenger.features and challenger.categories == german_run.challenger.categories
    assert np.allclose(challenger.bad_probability(german), german_run.challenger.bad_probability(german), rtol=0, atol=1e-12)
    assert load_challenger(tmp_path / "nowhere") is None
    report = json.loads(paths["validation_json"].read_text())
    assert report["models"]["scorecard"]["test"]["auc"] == german_run.report["models"]["scorecard"]["test"]["auc"]
    html = paths["validation_html"].read_text()
    assert "plotly" in html.lower() and 'id="auc"' in html and 'id="calibration-test"' in html and 'id="calibration-train"' not in html
    assert f"{report['models']['scorecard']['test']['auc']:.3f}" in html
    table = pl.read_csv(paths["table"])
    assert set(table["feature"]) == {f.name for f in card.features}


# ---- reasons ------------------------------------------------------------------------------------
def test_vectorised_reasons_agree_with_the_row_by_row_ones(german, german_run):
    card, count = german_run.card, POLICY.scoring.reason_count
    index, points = card.bin_index(german), card.points(german)
    table = reason_table(card, index, points, count)
    assert table.height == german.height and table.columns == ["codes", "reasons_en", "reasons_zh"]
    best = np.array([max(f.points) for f in card.features])
    for row, found in enumerate(table.iter_rows(named=True)):
        expected = reasons_for_row(card, index[row], points[row], count)
        assert found["codes"] == [r.code for r in expected], row
        assert found["reasons_en"] == [r.en for r in expected], row
        assert found["reasons_zh"] == [r.zh for r in expected], row
        lost = [r.points_lost for r in expected]
        assert lost == sorted(lost, reverse=True) and len(lost) <= count
        for r in expected:
            k = [f.name for f in card.features].index(r.feature)
            assert r.points_lost == pytest.approx(best[k] - points[row, k], abs=0.005)


def test_a_row_in_every_best_bin_has_no_reasons(german, german_run):
    card = german_run.card
    index = card.bin_index(german)
    values = {}
    for k, feature in enumerate(card.features):
        top = int(np.argmax(feature.points))
        rows = np.flatnonzero(index[:, k] == top)
        values[feature.name] = [german[feature.name][int(rows[0])] if len(rows) else None]
    best_row = pl.DataFrame(values)
    worst = int(np.argmin(card.score(german)))
    frame = pl.concat([best_row, german.select(best_row.columns)[worst]], how="vertical_relaxed")
    index, points = card.bin_index(frame), card.points(frame)
    assert points[0].sum() == pytest.approx(sum(max(f.points) for f in card.features))
    table = reason_table(card, index, points, 4)
    assert table.row(0) == ([], [], [])
    assert reasons_for_row(card, index[0], points[0], 4) == []
    assert len(table["codes"][1]) == 4 and all(c.startswith("SC:") for c in table["codes"][1])
    empty = reason_table(card, index[:0], points[:0], 4)
    assert empty.height == 0 and empty.columns == ["codes", "reasons_en", "reasons_zh"]


# ---- synthetic outcomes -------------------------------------------------------------------------
def people(n: int, seed: int) -> pl.DataFrame:
    from lendguard.synth.population import SynthConfig, generate_users

    return generate_users(n, 0, np.random.default_rng(seed), POLICY.geography, SynthConfig())


def test_outcomes_hit_the_default_rate_and_follow_the_weights():
    from lendguard.synth.outcomes import OUTCOME_SCHEMA, OutcomeModel, draw_outcomes

    crowd = people(4000, 1)
    drawn = draw_outcomes(crowd, np.random.default_rng(2))
    model = OutcomeModel()
    assert drawn.schema == OUTCOME_SCHEMA and drawn.height == 4000
    assert drawn["user_id"].to_list() == crowd["user_id"].to_list()
    assert drawn["true_pd"].mean() == pytest.approx(model.default_rate, abs=1e-6)
    assert drawn["defaulted"].mean() == pytest.approx(model.default_rate, abs=0.02)
    assert drawn["applied_month"].min() >= 1 and drawn["applied_month"].max() <= 12
    assert drawn.equals(draw_outcomes(crowd, np.random.default_rng(2)))
    assert not drawn.equals(draw_outcomes(crowd, np.random.default_rng(3)))
    assert model.weights["eligible_like"] < 0
    by_trait = crowd.select("user_id", "eligible_like", "student").join(drawn, on="user_id")
    eligible = by_trait.filter(pl.col("eligible_like"))["true_pd"].mean()
    other = by_trait.filter(~pl.col("eligible_like"))["true_pd"].mean()
    assert eligible < other / 3
    higher = draw_outcomes(crowd, np.random.default_rng(2), OutcomeModel(default_rate=0.2))
    assert higher["true_pd"].mean() == pytest.approx(0.2, abs=1e-6)
    assert draw_outcomes(crowd.head(0), np.random.default_rng(2)).schema == OUTCOME_SCHEMA


@pytest.fixture(scope="module")
def synthetic_dir(tmp_path_factory):
    from lendguard.store.events import EventStore
    from lendguard.synth.generate import generate_population

    data_dir = tmp_path_factory.mktemp("scoring-synth")
    generate_population(EventStore(data_dir), POLICY, 4000, AS_OF, seed=5)
    return data_dir


def test_the_population_writes_one_outcome_per_user_and_reset_removes_it(tmp_path):
    from lendguard.store.events import EventStore
    from lendguard.synth.generate import generate_population, reset_data_dir
    from lendguard.synth.outcomes import OUTCOMES

    summary = generate_population(EventStore(tmp_path), POLICY, 300, AS_OF, seed=9)
    outcomes = pl.read_parquet(tmp_path / OUTCOMES)
    assert outcomes.height == summary.users == 300 and outcomes["user_id"].n_unique() == 300
    assert set(outcomes["user_id"].to_list()) == set(EventStore(tmp_path).scan_users().collect()["user_id"].to_list())
    assert json.loads((tmp_path / "synthetic.json").read_text())["outcomes"] == OUTCOMES
    again = tmp_path / "again"
    generate_population(EventStore(again), POLICY, 300, AS_OF, seed=9)
    assert pl.read_parquet(again / OUTCOMES).equals(outcomes)  # same seed, same outcomes
    reset_data_dir(tmp_path)
    assert not (tmp_path / OUTCOMES).exists() and not (tmp_path / "synthetic.json").exists()


def test_the_synthetic_training_table_and_the_truth_as_ceiling(synthetic_dir):
    from lendguard.scoring.synthetic import (
        ID_COLUMN,
        TIME_COLUMN,
        TRUTH_COLUMN,
        training_table,
    )
    from lendguard.scoring.synthetic import TARGET as SYNTH_TARGET

    table = training_table(synthetic_dir)
    assert table.height == 4000 and table[ID_COLUMN].n_unique() == 4000
    assert {SYNTH_TARGET, TIME_COLUMN, TRUTH_COLUMN} <= set(table.columns)
    assert table[TRUTH_COLUMN].mean() == pytest.approx(0.06, abs=1e-6)
    outcomes = pl.read_parquet(synthetic_dir / "outcomes.parquet")
    joined = table.select(ID_COLUMN, SYNTH_TARGET, TRUTH_COLUMN).join(outcomes, on=ID_COLUMN, suffix="_drawn")
    assert (joined[SYNTH_TARGET] == joined[f"{SYNTH_TARGET}_drawn"]).all() and (joined[TRUTH_COLUMN] == joined[f"{TRUTH_COLUMN}_drawn"]).all()
    run = train_models(table, SYNTH_TARGET, POLICY.scoring, exclude=[ID_COLUMN], time_column=TIME_COLUMN, truth_column=TRUTH_COLUMN)
    used = {f.name for f in run.card.features} | set(run.challenger.features)
    assert not used & {ID_COLUMN, SYNTH_TARGET, TIME_COLUMN, TRUTH_COLUMN}
    report = run.report
    assert set(report["truth"]) == {"train", "test", "out_of_time"}
    assert report["rows"]["out_of_time"] == table.filter(pl.col(TIME_COLUMN) >= table[TIME_COLUMN].quantile(0.8, "higher")).height
    assert run.splits.out_of_time[TIME_COLUMN].min() > run.splits.train[TIME_COLUMN].max()
    for split in ("test", "out_of_time"):
        assert report["truth"][split]["auc"] >= report["models"]["scorecard"][split]["auc"] - 0.02, split
    assert report["models"]["scorecard"]["test"]["auc"] > 0.7  # the features carry the signal


def test_no_population_no_training_table(tmp_path):
    from lendguard.scoring.datasets import DatasetError
    from lendguard.scoring.synthetic import training_table

    with pytest.raises(DatasetError, match="run `lendguard synth` first"):
        training_table(tmp_path)


def test_a_split_without_events_is_reported_as_null_in_strict_json(tmp_path):
    """An out-of-time split holding only good outcomes has no AUC: the report says null
    (not NaN, which strict JSON parsers refuse), the HTML says '-', and nothing crashes."""
    frame = outcome_frame(german_credit(), TARGET, "bad")
    rng = np.random.default_rng(2)
    when = np.where(frame[TARGET].to_numpy() == 1, 0, rng.integers(0, 10, frame.height))  # every bad row is early
    frame = frame.with_columns(pl.Series("period", when))
    run = train_models(frame, TARGET, POLICY.scoring, time_column="period")
    late = run.report["models"]["scorecard"]["out_of_time"]
    assert late["events"] == 0 and late["auc"] is None and late["ks"] is None
    assert run.report["gap"]["out_of_time"] is None and run.report["gap"]["test"] is not None
    paths = save_run(run, tmp_path / "model", POLICY)

    def refuse(constant):
        raise AssertionError(f"non-standard JSON constant {constant}")

    report = json.loads(paths["validation_json"].read_text(), parse_constant=refuse)
    assert report["models"]["challenger"]["out_of_time"]["auc"] is None
    assert paths["validation_html"].read_text().count(">nan<") == 0
