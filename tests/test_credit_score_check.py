"""The learned score in the first visibility dimension (CR05) and in offers.

A scorecard is trained on a synthetic population's outcomes; a policy that lists CR05
decides by it. The population run, the single-user path and the independent DuckDB
reference must agree; the advice must lift the score it is given for; a missing model is
a clear error everywhere; offers move with the score when a product weighs it.
"""

from __future__ import annotations

import json
import shutil
import tomllib
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from conftest import SYNTH_AS_OF
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from lendguard.cli.main import app as cli
from lendguard.events.schema import EVENT_TYPES
from lendguard.features.window import AsOf
from lendguard.loans.admission import admission_frame
from lendguard.loans.offers import offers_for
from lendguard.policy import PolicyError, load_policy
from lendguard.policy.loader import default_policy_path, policy_from_mapping
from lendguard.scoring.artifact import load_scorecard, save_scorecard
from lendguard.scoring.scorecard import fit_scorecard
from lendguard.scoring.synthetic import TARGET, training_table
from lendguard.store.events import EventStore
from lendguard.visibility import credit_score as cs
from lendguard.visibility.check import DIMENSIONS
from lendguard.visibility.decision import Decision, DecisionRenderer
from lendguard.visibility.engine import decision_columns
from lendguard.visibility.reference_sql import evaluate_reference
from lendguard.visibility.service import VisibilityService, decide_user, evaluate_store

DEFAULT = load_policy()
# Features the independent reference query computes too, so it can score the same card.
FEATURES = [
    "payments", "offline_share", "night_share", "monthly_volatility", "bill_payments_quarter", "wealth_holding_days",
    "credit_history_years", "high_risk_contact_share", "contacts", "security_score", "device_switches", "red_packets",
    "ip_province", "spend_month_0", "spend_month_1", "payments_per_month",
]
BLOCKING = ("fail", "not_assessable")


def policy_with(edit) -> object:
    """The default policy after `edit(data)` changes its parsed TOML."""
    data = tomllib.loads(default_policy_path().read_text(encoding="utf-8"))
    edit(data)
    return policy_from_mapping(data, json.dumps(data, sort_keys=True, default=str).encode(), default_policy_path())


def score_policy(model: Path | str = "model", checks=("CR05",)):
    def edit(data):
        data["visibility"]["credit"]["checks"] = list(checks)
        data["scoring"]["model"] = str(model)

    return policy_with(edit)


def score_policy_file(folder: Path, model: str = "model") -> Path:
    """A policy file deciding by CR05 (a copy of the default's folder, for the CLI)."""
    shutil.copytree(default_policy_path().parent, folder, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    text = (folder / "default.toml").read_text(encoding="utf-8")
    text = text.replace('checks = ["CR01", "CR02", "CR03", "CR04"]', 'checks = ["CR05"]').replace('model = "model"', f'model = "{model}"')
    (folder / "default.toml").write_text(text, encoding="utf-8")
    return folder / "default.toml"


@pytest.fixture(scope="module")
def scored_dir(population_dir, tmp_path_factory) -> Path:
    """A copy of the shared population with a scorecard trained on its outcomes in model/."""
    data_dir = tmp_path_factory.mktemp("scored") / "data"
    shutil.copytree(population_dir, data_dir)
    table = training_table(data_dir, DEFAULT)
    card = fit_scorecard(table, TARGET, DEFAULT.scoring, features=FEATURES)
    save_scorecard(card, data_dir / "model", DEFAULT)
    return data_dir


@pytest.fixture(scope="module")
def decided(scored_dir):
    policy = score_policy()
    as_of = AsOf.of(SYNTH_AS_OF, policy)
    return policy, as_of, evaluate_store(EventStore(scored_dir), policy, as_of).decisions


def test_the_score_replaces_the_thresholds_when_the_policy_lists_cr05(decided):
    policy, _, decisions = decided
    assert "CR05" in decisions.columns and not {"CR01", "CR02", "CR03", "CR04"} & set(decisions.columns)
    assert decisions["dim_credit"].to_list() == decisions["CR05"].to_list()
    statuses = decisions["CR05"].value_counts()
    assert set(statuses["CR05"]) >= {"pass", "fail"}
    scored = decisions.filter(pl.col("CR05") != "not_assessable")
    # Failing is exactly "below the minimum", compared at two decimals.
    assert ((scored["credit_score"] < policy.visibility.credit.min_score) == (scored["CR05"] == "fail")).all()
    assert decisions.filter(pl.col("CR05") == "fail")["reason_codes"].list.contains("CR05").all()


def test_population_and_single_user_decide_alike_by_the_score(scored_dir, decided):
    policy, as_of, decisions = decided
    store = EventStore(scored_dir)
    renderer = DecisionRenderer(policy, as_of)
    failing = decisions.filter(pl.col("CR05") == "fail")["user_id"].head(10).to_list()
    sample = failing + decisions.sample(15, seed=2)["user_id"].to_list()
    for user_id in sample:
        single = decide_user(store, policy, as_of, user_id)
        batch = decisions.filter(pl.col("user_id") == user_id).row(0, named=True)
        for column in [*decision_columns(policy), cs.SCORE, cs.CODES, cs.FIX_FEATURE, cs.FIX_BAND, cs.FIX_FEATURES]:
            assert single[column] == batch[column], (user_id, column)
        document = renderer.decision(single)
        assert document == renderer.decision(batch)
        Decision.model_validate(document)
        assert document["scorecard_sha256"] == load_scorecard(scored_dir / "model").meta["sha256"]


def test_a_failing_score_explains_itself_in_both_languages(decided):
    policy, as_of, decisions = decided
    row = decisions.filter((pl.col("CR05") == "fail") & pl.col("CR05__advice").is_not_null()).row(0, named=True)
    credit = DecisionRenderer(policy, as_of).decision(row)["dimensions"][0]
    check = credit["checks"][0]
    assert check["code"] == "CR05" and check["status"] == "fail"
    assert f"{row['credit_score']:.0f}" in check["reason"]["en"] and "560" in check["reason"]["zh"]
    top = row[cs.REASONS_EN][0]
    assert top in check["reason"]["en"] and row[cs.REASONS_ZH][0] in check["reason"]["zh"]
    assert check["measured"]["credit_score_codes"][0].startswith("SC:")
    assert check["advice"]["kind"] in ("raise_feature", "raise_several") and check["advice"]["text"]["zh"]


def _value_in(card, feature_name: str, band: str):
    """A value of `feature_name` that falls in the bin labelled `band`."""
    feature = next(f for f in card.features if f.name == feature_name)
    k = feature.bins.labels.index(band)
    if feature.bins.kind == "categorical":
        return feature.bins.groups[k][0]
    edges = [-np.inf, *feature.bins.edges, np.inf]
    low, high = edges[k], edges[k + 1]
    return low if np.isfinite(low) else high - 1.0


def test_following_the_advice_lifts_the_score_to_the_minimum(scored_dir, decided):
    policy, _, decisions = decided
    card = load_scorecard(scored_dir / "model")
    fixed = set(policy.visibility.credit.fixed_features)
    failing = decisions.filter(pl.col("CR05") == "fail")
    assert failing.height >= 10
    singles = failing.filter(pl.col(cs.FIX_FEATURE).is_not_null())
    assert singles.height > 0
    for row in singles.iter_rows(named=True):
        assert row[cs.FIX_FEATURE] not in fixed
        name = row[cs.FIX_FEATURE]
        dtype = decisions.schema[name]
        value = _value_in(card, name, row[cs.FIX_BAND])
        if dtype.is_integer():
            value = int(np.ceil(value))  # a cut between counts (14.5) is met by the next whole count
        changed = pl.DataFrame([row], schema=decisions.schema).with_columns(pl.lit(value).cast(dtype).alias(name))
        assert card.score(changed)[0] >= policy.visibility.credit.min_score - 1e-6, row["user_id"]
    for row in failing.filter(pl.col(cs.FIX_COUNT).is_not_null()).iter_rows(named=True):
        names = row[cs.FIX_FEATURES].split(", ")
        assert len(names) == row[cs.FIX_COUNT] and not fixed & set(names)


def test_engine_and_reference_query_agree_when_deciding_by_the_score(scored_dir):
    store = EventStore(scored_dir)
    card = load_scorecard(scored_dir / "model")
    for checks in (("CR05",), ("CR01", "CR05")):
        policy = score_policy(checks=checks)
        as_of = AsOf.of(SYNTH_AS_OF, policy)
        ours = evaluate_store(store, policy, as_of).decisions
        ours = ours.select(
            "user_id", "visible", *[(~pl.col(f"dim_{d}").is_in(BLOCKING)).alias(f"dim_{d}") for d in DIMENSIONS],
            pl.col("CR05").is_in(BLOCKING).alias("CR05"),
        )
        sql = evaluate_reference({t: store.part_files(t) for t in EVENT_TYPES}, policy, as_of, checks=True, scorecard=card)
        assert "CR02" not in sql.columns and ("CR01" in sql.columns) == ("CR01" in checks)
        joined = ours.join(sql, on="user_id", how="full", coalesce=True, suffix="_sql")
        flags = ["visible", "CR05", *(f"dim_{d}" for d in DIMENSIONS)]
        differ = joined.filter(pl.any_horizontal([pl.col(f).ne_missing(pl.col(f"{f}_sql")) for f in flags]))
        assert joined.height >= 1500 and differ.height == 0, differ.head()
        assert 0 < joined["CR05"].sum() < joined.height


def test_the_reference_refuses_a_card_on_features_it_does_not_compute(scored_dir):
    card = load_scorecard(scored_dir / "model")
    card.features[0].bins.feature = "app_opens_per_day"
    store = EventStore(scored_dir)
    policy = score_policy()
    with pytest.raises(ValueError, match="app_opens_per_day"):
        evaluate_reference({t: store.part_files(t) for t in EVENT_TYPES}, policy, AsOf.of(SYNTH_AS_OF, policy), scorecard=card)


def test_no_scorecard_is_a_clear_error_in_the_engine_the_cli_and_the_api(scored_dir, tmp_path):
    missing = tmp_path / "nowhere"
    policy = score_policy(missing)
    with pytest.raises(cs.ScoreUnavailable, match="scoring.model"):
        evaluate_store(EventStore(scored_dir), policy, AsOf.of(SYNTH_AS_OF, policy))

    policy_file = score_policy_file(tmp_path / "policy", str(missing))
    done = CliRunner().invoke(cli, ["evaluate", "-d", str(scored_dir), "--policy", str(policy_file), "--out", str(tmp_path / "out")])
    assert done.exit_code == 2 and "no scorecard is served" in done.output, done.output

    from lendguard.api.app import create_app

    user = EventStore(scored_dir).scan_users().collect()["user_id"][0]
    with TestClient(create_app(scored_dir, policy)) as client:
        response = client.get(f"/v1/users/{user}/visibility", params={"as_of": SYNTH_AS_OF.isoformat()})
    assert response.status_code == 503 and response.json()["error"]["code"] == "no_model", response.text


def test_the_cache_is_keyed_by_the_scorecard_too(scored_dir, tmp_path):
    data_dir = tmp_path / "data"
    shutil.copytree(scored_dir, data_dir)
    policy = score_policy()
    as_of = AsOf.of(SYNTH_AS_OF, policy)
    service = VisibilityService(EventStore(data_dir), policy)
    user = service.evaluate_all(as_of).decisions.filter(pl.col("CR05") == "pass")["user_id"][0]
    before = service.decision(user, as_of)
    model = data_dir / "model" / "scorecard.json"
    record = json.loads(model.read_text())
    for feature in record["features"]:
        feature["points"] = [p - 100.0 for p in feature["points"]]  # every score drops far below the minimum
    model.write_text(json.dumps(record))
    after = service.decision(user, as_of)
    assert after["scorecard_sha256"] != before["scorecard_sha256"]
    assert before["visible"] is not None and "CR05" in after["reason_codes"]


def test_policy_refuses_unknown_or_repeated_credit_checks():
    for checks, word in ((["CR09"], "CR09"), (["CR05", "CR05"], "twice"), ([], "at least 1")):
        with pytest.raises(PolicyError, match=word):
            policy_with(lambda data, c=checks: data["visibility"]["credit"].__setitem__("checks", c))


def test_offers_move_with_the_score_when_a_product_weighs_it(scored_dir):
    def edit(data):
        data["loans"]["products"]["WLD"]["line_weights"] = {
            "fund_retention": "0.2", "scene_diversity": "0.2", "credit_history": "0.1", "credit_score": "0.5",
        }

    policy = policy_with(edit)
    as_of = AsOf.of(SYNTH_AS_OF, policy)
    decisions = evaluate_store(EventStore(scored_dir), policy, as_of).decisions
    assert cs.SCORE in decisions.columns  # the offers need it though visibility does not
    row = decisions.filter(pl.col("visible")).head(1)
    low, high = row.with_columns(pl.lit(500.0).alias(cs.SCORE)), row.with_columns(pl.lit(700.0).alias(cs.SCORE))
    frame = admission_frame(pl.concat([low, high]), policy)
    lines, rates = frame["WLD__line_units"].to_list(), frame["WLD__rate_units"].to_list()
    saturation = policy.loans.line_saturation
    assert lines[1] > lines[0] and rates[1] < rates[0]
    # The score's share of the line score is its weight, from nothing at the floor to in full.
    assert frame["WLD__score"][1] - frame["WLD__score"][0] == pytest.approx(0.5)
    assert saturation.credit_score_floor < saturation.credit_score_full
    offers = {o.product_id: o for o in offers_for(row, policy, SYNTH_AS_OF.date())}
    assert offers["WLD"].credit_score == row[cs.SCORE][0] and offers["JB"].credit_score is None

    def unbalanced(data):
        data["loans"]["products"]["WLD"]["line_weights"]["credit_score"] = "0.5"

    with pytest.raises(PolicyError, match="sum to 1"):
        policy_with(unbalanced)


def test_without_every_data_grant_the_score_is_not_assessed_never_low(decided):
    from lendguard.visibility.data_use import CHECK_USES

    _, _, decisions = decided
    consented = pl.all_horizontal([pl.col(use.key) for use in CHECK_USES["CR05"]])
    lacking = decisions.filter(~consented)
    assert lacking.height > 0 and (lacking["CR05"] == "not_assessable").all()
    assert (lacking["CR05__advice"] == "consent_needed").all()
    assert (decisions.filter(consented)["CR05"] != "not_assessable").all()


def test_a_corrupt_scorecard_is_a_clear_error_and_a_bad_reload_keeps_the_last_good_card(scored_dir, tmp_path):
    from lendguard.api.app import create_app
    from lendguard.scoring.artifact import ScorecardSlot
    from lendguard.scoring.scorecard import ScorecardError

    data_dir = tmp_path / "data"
    shutil.copytree(scored_dir, data_dir)
    model = data_dir / "model" / "scorecard.json"
    good = model.read_text()
    slot = ScorecardSlot(data_dir / "model")
    first = slot.get()
    model.write_text(good[: len(good) // 2])  # a half-written file
    assert slot.get() is first
    with pytest.raises(ScorecardError):
        ScorecardSlot(data_dir / "model").get()

    policy = score_policy()
    user = EventStore(data_dir).scan_users().collect()["user_id"][0]
    with TestClient(create_app(data_dir, policy)) as client:
        response = client.get(f"/v1/users/{user}/visibility", params={"as_of": SYNTH_AS_OF.isoformat()})
    assert response.status_code == 503 and response.json()["error"]["code"] == "bad_model", response.text
    policy_file = score_policy_file(tmp_path / "policy")
    done = CliRunner().invoke(cli, ["explain", user, "-d", str(data_dir), "--policy", str(policy_file), "--as-of", SYNTH_AS_OF.isoformat()])
    assert done.exit_code == 2 and "scorecard" in done.output


def test_a_card_reading_consent_flags_is_refused(scored_dir):
    card = load_scorecard(scored_dir / "model")
    card.features[0].bins.feature = "consent__assets__rows__credit_scoring"
    with pytest.raises(cs.ScoreUnavailable, match="consent flags"):
        cs.with_credit_score(pl.DataFrame({"user_id": ["u"]}), score_policy(), card)


def test_the_evaluate_command_decides_and_reports_by_the_score(scored_dir, tmp_path):
    out = tmp_path / "decisions"
    policy_file = score_policy_file(tmp_path / "policy")
    done = CliRunner().invoke(cli, ["evaluate", "-d", str(scored_dir), "--policy", str(policy_file), "--out", str(out), "--as-of", SYNTH_AS_OF.isoformat()])
    assert done.exit_code == 0, done.output
    meta = json.loads((out / "decisions.meta.json").read_text())
    assert "CR05" in meta["checks"] and "CR01" not in meta["checks"]
    assert meta["scorecard_sha256"] == load_scorecard(scored_dir / "model").meta["sha256"]
    assert (out / "report.html").exists()
