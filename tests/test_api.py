"""The HTTP API end to end: a real `lendguard serve` process over HTTP, and the OpenAPI document."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import httpx
import pytest
from server_support import start_serve, stop_serve

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(population_dir, tmp_path_factory):
    data = tmp_path_factory.mktemp("api") / "data"
    shutil.copytree(population_dir, data)
    process, base = start_serve(data, data.parent / "server.log")
    yield base, data
    stop_serve(process, timeout=20)


def payment(event_id: str, user: str, **changes) -> dict:
    return {"type": "payment", "event_id": event_id, "user_id": user, "ts": "2026-11-23T10:00:00+08:00", "amount": "15.00", "channel": "offline_qr", "counterparty": "shop", **changes}


def test_openapi_documents_both_endpoints(server):
    base, _ = server
    document = httpx.get(f"{base}/openapi.json").json()
    assert "/v1/events" in document["paths"] and "/v1/users/{user_id}/visibility" in document["paths"]
    assert "Decision" in document["components"]["schemas"]


def test_visibility_equals_cli_explain(server):
    base, data = server
    response = httpx.get(f"{base}/v1/users/u00000003/visibility")
    assert response.status_code == 200
    api = response.json()
    cli = subprocess.run([sys.executable, "-m", "lendguard.cli.main", "explain", "u00000003", "--json", "-d", str(data)], capture_output=True, text=True, check=True)
    assert api == json.loads(cli.stdout)
    assert len(api["dimensions"]) == 8


def test_unknown_user_is_404_with_error_model(server):
    base, _ = server
    response = httpx.get(f"{base}/v1/users/no-such-user/visibility")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "unknown_user"


def test_batch_with_invalid_events_rejects_each_and_stores_the_rest(server):
    base, data = server
    batch = {"events": [payment("api-1", "u00000001"), payment("api-2", "u00000001", amount="1.005"), payment("api-3", "u00000001", channel="mail"), {"type": "nope"}]}
    response = httpx.post(f"{base}/v1/events", json=batch)
    assert response.status_code == 200
    body = response.json()
    assert (body["received"], body["accepted"], body["stored"]) == (4, 1, 1)
    assert [(r["index"], r["field"]) for r in body["rejected"]] == [(1, "amount"), (2, "channel"), (3, "type")]
    # Retried: nothing stored twice.
    again = httpx.post(f"{base}/v1/events", json=batch).json()
    assert again["stored"] == 0 and again["duplicates"] == ["api-1"]
    kept = [json.loads(l) for l in (data / "dead_letter" / "rejected.jsonl").read_text().splitlines()]
    assert {r["event_id"] for r in kept} >= {"api-2", "api-3"}


def test_all_rejected_is_422_and_bad_body_is_400(server):
    base, _ = server
    response = httpx.post(f"{base}/v1/events", json={"events": [payment("x", "u1", amount="-1")]})
    assert response.status_code == 422 and response.json()["rejected"][0]["field"] == "amount"
    for body in (b"not json", b'{"evnts": []}', b"[1,2]"):
        bad = httpx.post(f"{base}/v1/events", content=body, headers={"content-type": "application/json"})
        assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_batch"


def test_new_events_change_the_decision(server):
    base, _ = server
    before = httpx.get(f"{base}/v1/users/u00000007/visibility").json()
    cr01 = next(c for d in before["dimensions"] for c in d["checks"] if c["code"] == "CR01")
    events = [payment(f"more-{i}", "u00000007", ts=f"2026-11-{10 + i % 12:02d}T12:00:00+08:00") for i in range(60)]
    assert httpx.post(f"{base}/v1/events", json={"events": events}).json()["stored"] == 60
    after = httpx.get(f"{base}/v1/users/u00000007/visibility").json()
    cr01_after = next(c for d in after["dimensions"] for c in d["checks"] if c["code"] == "CR01")
    assert cr01_after["measured"]["payments"] == cr01["measured"]["payments"] + 60


def test_withdrawing_consent_over_http_applies_at_once_and_is_logged(server):
    base, _ = server
    user = "u00000003"
    before = httpx.get(f"{base}/v1/users/{user}/consents").json()
    assert any(g["scope"] == "phone_device" for g in before["active"])
    response = httpx.post(f"{base}/v1/users/{user}/consents", json={"scope": "phone_device", "action": "withdraw"})
    assert response.status_code == 201, response.text
    assert not any(g["scope"] == "phone_device" for g in response.json()["active"])
    decision = httpx.get(f"{base}/v1/users/{user}/visibility").json()
    device = next(d for d in decision["dimensions"] if d["dimension"] == "device_security")
    assert device["status"] == "not_assessable"
    assert all(c["advice"]["kind"] == "consent_needed" for c in device["checks"])
    lines = httpx.get(f"{base}/v1/access-log", params={"user_id": user}).json()
    withdrawn_at = response.json()["history"][-1]["ts"]
    after = [line for line in lines if line["at"] >= withdrawn_at]
    assert after and not any(line["category"] == "device" for line in after)
    # Granting again restores the reads.
    assert httpx.post(f"{base}/v1/users/{user}/consents", json={"scope": "phone_device", "action": "grant"}).status_code == 201
    again = httpx.get(f"{base}/v1/users/{user}/visibility").json()
    assert next(d for d in again["dimensions"] if d["dimension"] == "device_security")["status"] != "not_assessable"


def test_a_consent_the_policy_does_not_know_is_422_with_the_reason(server):
    base, _ = server
    response = httpx.post(f"{base}/v1/users/u00000004/consents", json={"scope": "deep_credit", "action": "grant", "purposes": ["resale"]})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "consent_rejected" and "resale" in error["message"]
    assert httpx.get(f"{base}/v1/access-log", params={"from": "2026-01-02T00:00:00Z", "to": "2026-01-01T00:00:00Z"}).status_code == 422
