"""`/v1/reviews` end to end: the project's app with the review router, over a small synthetic data directory."""

from __future__ import annotations

import datetime as dt
import shutil

import polars as pl
import pytest
from fastapi.testclient import TestClient

from lendguard.api.app import create_app
from lendguard.features.window import AsOf
from lendguard.policy import load_policy
from lendguard.store.events import EventStore
from lendguard.synth.generate import generate_population
from lendguard.visibility.service import VisibilityService

pytestmark = pytest.mark.slow
AS_OF = dt.datetime(2026, 11, 24, tzinfo=dt.timezone.utc)


@pytest.fixture(scope="module")
def population(tmp_path_factory) -> dict:
    data_dir = tmp_path_factory.mktemp("reviews-api-population")
    policy = load_policy()
    generate_population(EventStore(data_dir), policy, 200, AS_OF, seed=4)
    frame = VisibilityService(EventStore(data_dir), policy).evaluate_all(AsOf.of(AS_OF, policy)).decisions
    social = pl.any_horizontal(pl.col(c).is_in(["fail", "warn"]) for c in policy.reviews.social_graph_checks if c in frame.columns)
    plain = frame.filter(~social & (pl.col("KY01") == "fail"))["user_id"].to_list()
    touching = frame.filter(social)["user_id"].to_list()
    assert len(plain) >= 3 and touching
    return {"dir": data_dir, "plain": plain, "social": touching[0]}


@pytest.fixture
def client(population, tmp_path) -> TestClient:
    """A fresh copy of the data directory per test, with the app as `lendguard serve` builds it."""
    data_dir = tmp_path / "data"
    shutil.copytree(population["dir"], data_dir)
    policy = load_policy()
    app = create_app(data_dir, policy)
    return TestClient(app)


def error_of(response, status: int) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}
    return body["error"]


def test_openapi_documents_the_review_routes(client):
    document = client.get("/openapi.json").json()
    paths = document["paths"]
    for path in ("/v1/reviews", "/v1/reviews/{review_id}", "/v1/reviews/{review_id}/decide", "/v1/reviews/report", "/v1/reviews/r2"):
        assert path in paths, path
    schemas = document["components"]["schemas"]
    assert {"ReviewOut", "ReviewDetailOut", "DecideIn", "ReportOut", "ErrorResponse"} <= set(schemas)
    decide = paths["/v1/reviews/{review_id}/decide"]["post"]
    assert {"403", "404", "409", "422"} <= set(decide["responses"])
    assert "429" in paths["/v1/reviews"]["post"]["responses"]


def test_request_take_decide_and_read_back(client, population):
    user = population["plain"][0]
    created = client.post("/v1/reviews", json={"user_id": user, "kind": "user_request", "reason": "my ID is valid"})
    assert created.status_code == 201, created.text
    review = created.json()
    rid = review["review_id"]
    assert review["status"] == "requested" and review["decision"]["checks"]["KY01"]["status"] == "fail"

    assert error_of(client.post(f"/v1/reviews/{rid}/take", json={"reviewer": user}), 403)["code"] == "own_request"
    assert client.post(f"/v1/reviews/{rid}/take", json={"reviewer": "alice"}).json()["status"] == "in_review"
    assert error_of(client.post(f"/v1/reviews/{rid}/decide", json={"reviewer": "bob", "outcome": "upheld"}), 403)["code"] == "not_assigned_reviewer"
    body = {"reviewer": "alice", "outcome": "overridden", "clear_checks": ["KY01"]}
    assert error_of(client.post(f"/v1/reviews/{rid}/decide", json=body), 422)["code"] == "reason_required"
    assert error_of(client.post(f"/v1/reviews/{rid}/decide", json={**body, "clear_checks": ["RG02"], "reason_code": "HR01"}), 422)["code"] == "not_overridable"
    line = {"system_line": "5000", "new_line": "7000"}
    assert error_of(client.post(f"/v1/reviews/{rid}/decide", json={**body, "reason_code": "HR01", "line_change": line}), 422)["code"] == "line_change_out_of_bounds"
    decided = client.post(f"/v1/reviews/{rid}/decide", json={**body, "reason_code": "HR01", "line_change": {"system_line": "5000", "new_line": "5500"}})
    assert decided.status_code == 200, decided.text
    result = decided.json()
    assert result["outcome"] == "overridden" and result["changes"]["line"] == {"system_line": "5000", "new_line": "5500"}
    assert [a["action"] for a in result["actions"]] == ["requested", "taken", "decided"]
    assert error_of(client.post(f"/v1/reviews/{rid}/decide", json={**body, "reason_code": "HR01"}), 409)["code"] == "invalid_state"

    one = client.get(f"/v1/reviews/{rid}").json()
    assert one["review_id"] == rid and len(one["actions"]) == 3
    listed = client.get("/v1/reviews", params={"user_id": user, "status": "decided"}).json()["reviews"]
    assert [r["review_id"] for r in listed] == [rid]
    assert client.get("/v1/reviews", params={"status": "withdrawn"}).json()["reviews"] == []
    report = client.get("/v1/reviews/report").json()
    assert report["team"]["overridden"] == 1 and report["reviewers"][0]["reviewer"] == "alice"
    assert client.get("/v1/reviews/report", params={"min_decided": 1}).json()["min_decided"] == 1


def test_the_yearly_limit_is_429(client, population):
    user = population["plain"][1]
    for body in ({"reason": "resolved"}, None):  # the body is optional
        rid = client.post("/v1/reviews", json={"user_id": user}).json()["review_id"]
        assert client.post(f"/v1/reviews/{rid}/withdraw", json=body).json()["status"] == "withdrawn"
    error = error_of(client.post("/v1/reviews", json={"user_id": user, "kind": "automated_refusal"}), 429)
    assert error["code"] == "review_limit_reached" and error["details"][0]["next_allowed_at"]


def test_social_reviews_need_confirmation_and_cool_off(client, population):
    created = client.post("/v1/reviews", json={"user_id": population["social"], "kind": "automated_refusal"}).json()
    rid = created["review_id"]
    assert created["status"] == "awaiting_confirmation" and created["touches_social_graph"]
    assert error_of(client.post(f"/v1/reviews/{rid}/take", json={"reviewer": "alice"}), 409)["code"] == "awaiting_confirmation"
    confirmed = client.post(f"/v1/reviews/{rid}/confirm")
    assert confirmed.status_code == 200 and confirmed.json()["opens_at"]
    error = error_of(client.post(f"/v1/reviews/{rid}/take", json={"reviewer": "alice"}), 409)
    assert error["code"] == "cooling_off" and error["details"][0]["opens_at"] == confirmed.json()["opens_at"]
    assert error_of(client.post("/v1/reviews", json={"user_id": population["social"]}), 409)["code"] == "review_already_open"


def test_unknown_and_invalid_requests(client, population):
    assert error_of(client.get("/v1/reviews/rv-nope"), 404)["code"] == "unknown_review"
    assert error_of(client.post("/v1/reviews/rv-nope/take", json={"reviewer": "alice"}), 404)["code"] == "unknown_review"
    assert error_of(client.post("/v1/reviews", json={"user_id": "no-such-user"}), 404)["code"] == "unknown_user"
    assert error_of(client.post("/v1/reviews", json={"user_id": population["plain"][2], "kind": "r2_verification"}), 422)["code"] == "invalid_request"
    assert error_of(client.post("/v1/reviews/rv-nope/verify", json={"reviewer": "alice", "method": "pigeon", "passed": True}), 422)["code"] == "invalid_request"
    assert error_of(client.post("/v1/reviews/r2", json={"user_id": population["plain"][2]}), 409)["code"] == "not_at_r2"


def test_r2_review_through_the_api(client, population, tmp_path):
    from sqlalchemy import insert

    from lendguard.store.catalog import risk_states
    from lendguard.store.decisions import DecisionCache

    user = population["plain"][2]
    with EventStore(tmp_path / "data").engine.begin() as conn:
        conn.execute(insert(risk_states).values(user_id=user, level="R2", since=AS_OF, rule_id="FR-test"))
    DecisionCache(EventStore(tmp_path / "data").engine, "Asia/Shanghai").invalidate([user])  # as the fraud engine does
    assert "AF01" in client.get(f"/v1/users/{user}/visibility").json()["reason_codes"]
    opened = client.post("/v1/reviews/r2", json={"user_id": user, "opened_by": "risk-bot"})
    assert opened.status_code == 201 and opened.json()["kind"] == "r2_verification"
    rid = opened.json()["review_id"]
    client.post(f"/v1/reviews/{rid}/take", json={"reviewer": "carol"})
    body = {"reviewer": "carol", "outcome": "overridden", "risk_level": "R0", "reason_code": "HR03"}
    assert error_of(client.post(f"/v1/reviews/{rid}/decide", json=body), 409)["code"] == "verification_required"
    verified = client.post(f"/v1/reviews/{rid}/verify", json={"reviewer": "carol", "method": "face", "passed": True}).json()
    assert verified["actions"][-1]["details"] == {"method": "face", "passed": True}
    decided = client.post(f"/v1/reviews/{rid}/decide", json=body).json()
    assert decided["changes"]["risk_level"] == {"from": "R2", "to": "R0"}
    assert "AF01" not in client.get(f"/v1/users/{user}/visibility").json()["reason_codes"]
