"""`lendguard score fit|apply|monitor|data` as a user runs them (typer's CliRunner on the
real `lendguard` app, real files), and the scoring routes of the HTTP API (FastAPI's
TestClient on `create_app`): no model, a model trained after the app started, rows scored
with reasons, bad values, and a stored user's score equal to `score apply` on the same row."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from lendguard.api.app import create_app
from lendguard.cli.main import app
from lendguard.policy import load_policy
from lendguard.scoring.artifact import load_scorecard
from lendguard.scoring.datasets import german_credit

POLICY = load_policy()
AS_OF = dt.datetime(2026, 11, 24, 0, 0, tzinfo=dt.timezone.utc)
MODEL_FILES = {"scorecard.json", "scorecard.csv", "challenger.txt", "challenger.json", "validation.json", "validation.html"}
FEW = "status_of_existing_checking_account,duration_in_month,credit_amount"


def score(*args: str, code: int = 0):
    """`lendguard score ...`; the exit code must be `code`."""
    result = CliRunner().invoke(app, ["score", *map(str, args)])
    assert result.exit_code == code, f"exit {result.exit_code}, wanted {code}\n{result.output}\n{result.exception!r}"
    return result


@pytest.fixture(scope="module")
def german_model(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("german") / "model"
    done = score("fit", "--dataset", "german", "--out", out)
    assert "features in the model" in done.output and "challenger" in done.output
    return out


@pytest.fixture(scope="module")
def german_csv(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("german-data") / "german.csv"
    done = score("data", "german", "--out", path)
    assert "1,000 rows × 21 columns" in done.output
    return path


# ---- the command line ---------------------------------------------------------------------------
def test_fit_on_german_writes_the_model_and_its_report(german_model):
    assert {p.name for p in german_model.iterdir()} == MODEL_FILES
    report = json.loads((german_model / "validation.json").read_text())
    assert report["target"] == "creditability" and report["rows"]["train"] + report["rows"]["test"] == 1000
    assert report["models"]["scorecard"]["test"]["auc"] > 0.72 and report["models"]["challenger"]["test"]["auc"] > 0.65
    assert "swap_set" not in report
    html = (german_model / "validation.html").read_text()
    assert "plotly" in html.lower() and 'id="auc"' in html
    card = load_scorecard(german_model)
    table = pl.read_csv(german_model / "scorecard.csv")
    assert table.height == sum(f.bins.bins for f in card.features)
    assert card.meta["policy_version"] == POLICY.version and card.meta["seed"] == 7


def test_a_text_target_needs_the_event_value(german_model, german_csv, tmp_path):
    assert pl.read_csv(german_csv).equals(german_credit())
    refused = score("fit", "--data", german_csv, "--target", "creditability", "--out", tmp_path / "m", code=2)
    assert "--event" in refused.output and "creditability" in refused.output
    assert not (tmp_path / "m").exists()
    missing = score("fit", "--data", german_csv, "--out", tmp_path / "m", code=2)
    assert "--target is required" in missing.output
    unknown = score("fit", "--data", german_csv, "--target", "creditability", "--event", "awful", "--out", tmp_path / "m", code=2)
    assert "'awful'" in unknown.output
    score("fit", "--data", german_csv, "--target", "creditability", "--event", "bad", "--no-challenger", "--out", tmp_path / "m")
    assert {p.name for p in (tmp_path / "m").iterdir()} == MODEL_FILES - {"challenger.txt", "challenger.json"}
    # The same data, the same seed: the same scorecard as the built-in dataset gives.
    from_file = json.loads((tmp_path / "m" / "validation.json").read_text())["models"]["scorecard"]
    built_in = json.loads((german_model / "validation.json").read_text())["models"]["scorecard"]
    assert from_file["test"] == built_in["test"] and from_file["train"] == built_in["train"]
    assert np.array_equal(load_scorecard(tmp_path / "m").score(german_credit()), load_scorecard(german_model).score(german_credit()))
    no_file = score("fit", "--data", tmp_path / "nope.csv", "--target", "creditability", "--out", tmp_path / "m2", code=2)
    assert "no file" in no_file.output


def test_apply_writes_every_row_with_reasons(german_model, german_csv, tmp_path):
    out = tmp_path / "scores.csv"
    done = score("apply", "--model", german_model, "--data", german_csv, "--out", out)
    assert "scored 1,000 rows" in done.output
    scores = pl.read_csv(out)
    assert scores.height == 1000 and scores.columns == ["score", "bad_probability", "codes", "reasons_en", "reasons_zh"]
    card = load_scorecard(german_model)
    frame = german_credit()
    assert np.allclose(scores["score"].to_numpy(), np.round(card.score(frame), 1), atol=1e-9)
    assert np.allclose(scores["bad_probability"].to_numpy(), card.bad_probability(frame), rtol=1e-9)
    codes = scores["codes"].fill_null("").str.split(";")
    assert codes.list.len().max() == POLICY.scoring.reason_count
    assert all(c.startswith("SC:") for row in codes.to_list() for c in row if c)
    worst = int(np.argmin(card.score(frame)))
    assert len(codes[worst]) == POLICY.scoring.reason_count
    parquet = tmp_path / "scores.parquet"
    score("apply", "--model", german_model, "--data", german_csv, "--out", parquet)
    assert pl.read_parquet(parquet)["codes"].dtype == pl.List(pl.String)
    shown = score("apply", "--model", german_model, "--data", german_csv, "--show", "3")
    assert "the first 3" in shown.output
    wrong = score("apply", "--model", german_model, "--data", german_csv, "--out", tmp_path / "scores.xlsx", code=2)
    assert "unknown table format" in wrong.output


def test_monitor_reports_drift_and_fails_on_an_alert(german_model, german_csv, tmp_path):
    drift = tmp_path / "drift.json"
    score("monitor", "--model", german_model, "--data", german_csv, "--out", drift, "--fail-on", "alert")
    document = json.loads(drift.read_text())
    assert document["rows"] == 1000 and document["limits"] == {"psi_warn": 0.10, "psi_alert": 0.25}
    card = load_scorecard(german_model)
    assert [d["name"] for d in document["drift"]] == ["score", *(f.name for f in card.features)]
    assert all(d["level"] == "ok" for d in document["drift"])  # the training table against itself
    shifted = tmp_path / "shifted.csv"
    german_credit().with_columns(pl.col("credit_amount") * 3).write_csv(shifted)
    alarmed = score("monitor", "--model", german_model, "--data", shifted, "--out", tmp_path / "shifted.json", "--fail-on", "alert", code=1)
    assert "alert" in alarmed.output
    levels = {d["name"]: d["level"] for d in json.loads((tmp_path / "shifted.json").read_text())["drift"]}
    assert levels["credit_amount"] == "alert"
    score("monitor", "--model", german_model, "--data", shifted, code=0)  # no --fail-on: a report, not a failure
    nudged = tmp_path / "nudged.csv"  # amounts 30 % higher: a warning (CSI about 0.17), no alert
    german_credit().with_columns((pl.col("credit_amount") * 1.3).cast(pl.Int64)).write_csv(nudged)
    score("monitor", "--model", german_model, "--data", nudged, "--out", tmp_path / "nudged.json", "--fail-on", "alert", code=0)
    levels = {d["name"]: d["level"] for d in json.loads((tmp_path / "nudged.json").read_text())["drift"]}
    assert levels["credit_amount"] == "warn" and set(levels.values()) == {"ok", "warn"}
    score("monitor", "--model", german_model, "--data", nudged, "--fail-on", "warn", code=1)
    bad = score("monitor", "--model", german_model, "--data", german_csv, "--fail-on", "panic", code=2)
    assert "--fail-on must be warn or alert" in bad.output


def test_a_corrupt_model_exits_2_and_names_the_problem(german_model, german_csv, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(german_model, broken)
    model = broken / "scorecard.json"
    document = json.loads(model.read_text())
    model.write_text(model.read_text()[:200])
    truncated = score("apply", "--model", broken, "--data", german_csv, code=2)
    assert "is not JSON" in truncated.output
    del document["intercept"]
    document["features"][1]["points"] = document["features"][1]["points"][:-1]
    model.write_text(json.dumps(document))
    invalid = score("monitor", "--model", broken, "--data", german_csv, code=2)
    assert "not a valid scorecard" in invalid.output and "intercept" in invalid.output and "features.1" in invalid.output
    nowhere = score("apply", "--model", tmp_path / "nowhere", "--data", german_csv, code=2)
    assert "no scorecard at" in nowhere.output
    lacking = tmp_path / "lacking.csv"
    german_credit().drop("duration_in_month").write_csv(lacking)
    short = score("apply", "--model", german_model, "--data", lacking, code=2)
    assert "duration_in_month" in short.output


def test_previous_adds_the_swap_set(german_model, tmp_path):
    out = tmp_path / "limited"
    done = score("fit", "--dataset", "german", "--features", FEW, "--no-challenger", "--previous", german_model, "--out", out)
    assert "swap set at 70% approval" in done.output
    report = json.loads((out / "validation.json").read_text())
    swap = report["swap_set"]
    assert sum(swap[c]["rows"] for c in ("both", "swap_in", "swap_out", "neither")) == report["rows"]["test"]
    assert [f.name for f in load_scorecard(out).features] == FEW.split(",")
    assert "Swap set against the previous model" in (out / "validation.html").read_text()
    gone = score("fit", "--dataset", "german", "--previous", tmp_path / "nowhere", "--out", tmp_path / "x", code=2)
    assert "no scorecard at" in gone.output


# ---- the HTTP API -------------------------------------------------------------------------------
def german_rows(n: int) -> list[dict]:
    return german_credit().drop("creditability").head(n).to_dicts()


def test_no_model_then_a_model_trained_while_the_app_runs(tmp_path, monkeypatch):
    monkeypatch.delenv("LENDGUARD_SCORECARD", raising=False)
    with TestClient(create_app(tmp_path)) as client:
        response = client.post("/v1/score", json={"rows": german_rows(2)})
        assert response.status_code == 503
        assert response.json()["error"]["code"] == "no_model" and "lendguard score fit" in response.json()["error"]["message"]
        score("fit", "--dataset", "german", "--no-challenger", "--out", tmp_path / "model")
        response = client.post("/v1/score", json={"rows": german_rows(2)})
        assert response.status_code == 200, response.text
        documents = response.json()
        card = load_scorecard(tmp_path / "model")
        expected = np.round(card.score(german_credit().head(2)), 1)
        assert [d["score"] for d in documents] == expected.tolist()
        assert [d["bad_probability"] for d in documents] == pytest.approx(card.bad_probability(german_credit().head(2)).tolist(), rel=1e-12)
        for document in documents:
            assert document["model"]["target"] == "creditability" and document["model"]["policy_version"] == POLICY.version
            assert 1 <= len(document["reasons"]) <= POLICY.scoring.reason_count
            for reason in document["reasons"]:
                assert set(reason) == {"code", "en", "zh"} and reason["code"].startswith("SC:") and "分" in reason["zh"]


def test_scoring_rows_bad_values_and_missing_features(german_model, tmp_path, monkeypatch):
    monkeypatch.setenv("LENDGUARD_SCORECARD", str(german_model))
    card = load_scorecard(german_model)
    with TestClient(create_app(tmp_path)) as client:
        rows = german_rows(2)
        rows[1]["duration_in_month"] = "forty"
        response = client.post("/v1/score", json={"rows": rows})
        assert response.status_code == 422
        error = response.json()["error"]
        assert set(error) == {"code", "message", "details"} and error["code"] == "invalid_features"
        assert "duration_in_month" in error["message"] and error["details"] == []
        listed = client.post("/v1/score", json={"rows": [{**german_rows(1)[0], "credit_amount": [1, 2]}]})
        assert listed.status_code == 422 and listed.json()["error"]["code"] == "invalid_features"
        assert listed.json()["error"]["details"][0]["field"] == "rows.0.credit_amount"
        nested = client.post("/v1/score", json={"rows": [{**german_rows(1)[0], "purpose": {"a": 1}}]})  # a categorical feature too
        assert nested.status_code == 422 and nested.json()["error"]["details"][0]["field"] == "rows.0.purpose"
        empty = client.post("/v1/score", json={"rows": []})
        assert empty.status_code == 422 and empty.json()["error"]["code"] == "invalid_request"
        # A row with nothing known falls in every missing bin; unknown keys are ignored.
        nothing = client.post("/v1/score", json={"rows": [{"shoe_size": 44}]})
        assert nothing.status_code == 200
        assert nothing.json()[0]["score"] == round(sum(f.points[-1] for f in card.features), 1)


def test_a_corrupt_model_is_a_503(german_model, tmp_path, monkeypatch):
    broken = tmp_path / "broken.json"
    broken.write_text("{}")
    monkeypatch.setenv("LENDGUARD_SCORECARD", str(broken))
    with TestClient(create_app(tmp_path / "data")) as client:
        response = client.post("/v1/score", json={"rows": german_rows(1)})
        assert response.status_code == 503 and response.json()["error"]["code"] == "bad_model"
        assert "not a valid scorecard" in response.json()["error"]["message"]


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory) -> Path:
    """A small synthetic population with its scorecard trained into <data dir>/model."""
    from lendguard.store.events import EventStore
    from lendguard.synth.generate import generate_population

    data_dir = tmp_path_factory.mktemp("synthetic") / "data"
    generate_population(EventStore(data_dir), POLICY, 3000, AS_OF, seed=5)
    done = score("fit", "--dataset", "synthetic", "--data-dir", data_dir, "--out", data_dir / "model")
    assert "the truth's own AUC on test" in done.output
    return data_dir


def test_a_stored_users_score_equals_score_apply_on_their_row(synthetic, tmp_path, monkeypatch):
    monkeypatch.delenv("LENDGUARD_SCORECARD", raising=False)
    report = json.loads((synthetic / "model" / "validation.json").read_text())
    assert report["time_column"] == "applied_month" and set(report["truth"]) == {"train", "test", "out_of_time"}
    out = tmp_path / "scores.parquet"
    score("apply", "--model", synthetic / "model", "--dataset", "synthetic", "--data-dir", synthetic, "--out", out)
    applied = pl.read_parquet(out)
    assert applied.height == 3000 and applied["user_id"].n_unique() == 3000
    users = applied.sort("score")["user_id"].gather([0, 1500, 2999]).to_list()  # the worst, a middle and the best
    with TestClient(create_app(synthetic)) as client:
        for user in users:
            response = client.get(f"/v1/users/{user}/score")
            assert response.status_code == 200, response.text
            document = response.json()
            row = applied.filter(pl.col("user_id") == user).row(0, named=True)
            assert document["score"] == row["score"], user
            assert document["bad_probability"] == pytest.approx(row["bad_probability"], rel=1e-12)
            assert [r["code"] for r in document["reasons"]] == row["codes"]
            assert [r["en"] for r in document["reasons"]] == row["reasons_en"]
        unknown = client.get("/v1/users/no-such-user/score")
        assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "unknown_user"


def test_a_model_of_other_features_is_a_409_for_stored_users(synthetic, german_model, monkeypatch):
    monkeypatch.setenv("LENDGUARD_SCORECARD", str(german_model))
    with TestClient(create_app(synthetic)) as client:
        response = client.get("/v1/users/u00000001/score")
        assert response.status_code == 409 and response.json()["error"]["code"] == "model_mismatch"
        assert "duration_in_month" in response.json()["error"]["message"]


def test_an_empty_table_or_a_wrong_model_path_is_a_clear_error(german_model, tmp_path):
    empty = tmp_path / "empty.csv"
    german_credit().head(0).write_csv(empty)
    for command in ("apply", "monitor"):
        result = score(command, "--model", german_model, "--data", empty, code=2)
        assert "the table has no rows" in result.output
        wrong = score(command, "--model", tmp_path / "nowhere", "--data", empty, code=2)
        assert "no scorecard at" in wrong.output  # the model is read first, before any data
