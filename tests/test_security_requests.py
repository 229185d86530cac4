"""The signed-request protocol and the rate limits of the access gate (LENDGUARD_AUTH=on).

A partner signs METHOD, path, sorted query, timestamp, nonce and the body's hash: an
unsigned, unknown, stale, replayed or altered request is refused 401 with its own code, a
forged or expired bearer token too, and a partner outside its networks 403. Token buckets
limit each caller and each client IP (429 with Retry-After and RateLimit-* headers); the
bucket arithmetic never lets through more than burst + rate x time; and with Redis two
server processes share the nonces and the buckets.
"""

from __future__ import annotations

import asyncio
import secrets
import socket
import subprocess
import time
import tomllib
import uuid
from contextlib import ExitStack
from dataclasses import dataclass
from itertools import accumulate
from pathlib import Path

import httpx
import pytest
import tomli_w
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st
from server_support import start_serve

from lendguard.api.app import create_app
from lendguard.policy import load_policy
from lendguard.policy.loader import default_policy_path, policy_from_mapping
from lendguard.policy.security import RateLimit
from lendguard.security.client import BearerToken, PartnerSigner
from lendguard.security.guard import token_secret
from lendguard.security.limits import MemoryLimits, RedisLimits, take
from lendguard.security.partners import (
    PartnerEntry,
    new_secret,
    registry_path,
    save_registry,
)
from lendguard.security.signing import (
    NONCE_HEADER,
    PARTNER_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    signature,
)
from lendguard.security.tokens import issue_token

ENV_TO_CLEAR = ("LENDGUARD_TOKEN_SECRET", "LENDGUARD_PARTNERS", "LENDGUARD_REDIS_URL", "LENDGUARD_DATABASE_URL", "LENDGUARD_POLICY")
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
SERVERS_DB, LIMITS_DB = 5, 6  # the two-server test flushes its db; the backend comparison keeps to its own
RATE_HEADERS = ("RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset")
WINDOW = load_policy().security.signature_window_seconds


def redis_listens() -> bool:
    try:
        with socket.create_connection((REDIS_HOST, REDIS_PORT), timeout=0.5):
            return True
    except OSError:
        return False


needs_redis = pytest.mark.skipif(not redis_listens(), reason=f"no Redis listens on {REDIS_HOST}:{REDIS_PORT}")


def policy_with(**security):
    """The default policy with some [security] numbers changed."""
    path = default_policy_path()
    data = tomllib.loads(path.read_text())
    data["security"].update(security)
    return policy_from_mapping(data, tomli_w.dumps(data).encode(), path)


def error_of(response, status: int) -> str:
    """The error code, after checking the status and the API's one error shape."""
    assert response.status_code == status, response.text[:500]
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}, body
    assert body["error"]["message"]
    return body["error"]["code"]


def signed_headers(partner_id: str, secret: str, method: str, path: str, query: str = "", body: bytes = b"", *, timestamp: str | None = None, nonce: str | None = None) -> dict[str, str]:
    """The four headers of a signed request, built by hand from `signature`."""
    timestamp = timestamp or str(int(time.time()))
    nonce = nonce or secrets.token_urlsafe(18)
    return {
        PARTNER_HEADER: partner_id,
        TIMESTAMP_HEADER: timestamp,
        NONCE_HEADER: nonce,
        SIGNATURE_HEADER: signature(bytes.fromhex(secret), method, path, query, timestamp, nonce, body),
    }


@dataclass
class Gate:
    client: TestClient
    data: Path
    secrets: dict[str, list[str]]  # partner id -> its secrets

    def signer(self, partner_id: str = "mini", which: int = 0, clock=time.time) -> PartnerSigner:
        return PartnerSigner(partner_id, self.secrets[partner_id][which], clock)

    def token(self, role: str = "admin", **claims) -> BearerToken:
        return BearerToken(issue_token(token_secret(self.data), role=role, subject=f"{role}-1", **claims))


@pytest.fixture
def gate(tmp_path, monkeypatch):
    """`gate(partners, policy)`: a fresh app (auth on, limits in memory) over an empty data dir."""
    monkeypatch.setenv("LENDGUARD_AUTH", "on")
    for name in ENV_TO_CLEAR:
        monkeypatch.delenv(name, raising=False)
    with ExitStack() as stack:

        def build(partners: dict[str, dict] | None = None, policy=None) -> Gate:
            data = tmp_path / f"data-{uuid.uuid4().hex[:8]}"
            partners = {"mini": {}} if partners is None else partners
            keys = {pid: extra.pop("secrets", None) or [new_secret()] for pid, extra in partners.items()}
            save_registry(registry_path(data), {pid: PartnerEntry(name=pid, secrets=keys[pid], **extra) for pid, extra in partners.items()})
            client = stack.enter_context(TestClient(create_app(data, policy or load_policy())))
            return Gate(client, data, keys)

        yield build


# ---- who is calling ------------------------------------------------------------------------------
def test_a_request_without_credentials_is_unauthenticated(gate):
    g = gate()
    assert error_of(g.client.get("/v1/schema/events"), 401) == "unauthenticated"
    assert error_of(g.client.post("/v1/events", json={"events": []}), 401) == "unauthenticated"
    assert g.client.get("/v1/health").status_code == 200  # public


def test_a_partner_header_without_the_signature_headers_is_an_unsigned_request(gate):
    g = gate()
    assert error_of(g.client.get("/v1/schema/events", headers={PARTNER_HEADER: "mini"}), 401) == "unsigned_request"
    partial = signed_headers("mini", g.secrets["mini"][0], "GET", "/v1/schema/events")
    del partial[SIGNATURE_HEADER]
    response = g.client.get("/v1/schema/events", headers=partial)
    assert error_of(response, 401) == "unsigned_request" and SIGNATURE_HEADER in response.json()["error"]["message"]


def test_an_unknown_partner_is_refused(gate):
    g = gate()
    response = g.client.get("/v1/schema/events", auth=PartnerSigner("stranger", new_secret()))
    assert error_of(response, 401) == "unknown_partner"


@pytest.mark.parametrize("offset", [-(WINDOW + 30), WINDOW + 30, -10 * WINDOW, 10 * WINDOW])
def test_a_timestamp_outside_the_window_is_stale(gate, offset):
    g = gate()
    stale = g.client.get("/v1/schema/events", auth=g.signer(clock=lambda: time.time() + offset))
    assert error_of(stale, 401) == "stale_request"


@pytest.mark.parametrize("offset", [-(WINDOW - 30), WINDOW - 30])
def test_a_timestamp_inside_the_window_is_accepted(gate, offset):
    g = gate()
    assert g.client.get("/v1/schema/events", auth=g.signer(clock=lambda: time.time() + offset)).status_code == 200


def test_a_timestamp_that_is_not_unix_seconds_is_stale(gate):
    g = gate()
    headers = signed_headers("mini", g.secrets["mini"][0], "GET", "/v1/schema/events", timestamp="2026-11-24T00:00:00Z")
    assert error_of(g.client.get("/v1/schema/events", headers=headers), 401) == "stale_request"


def test_the_same_signed_request_twice_is_a_replay(gate):
    g = gate()
    body = b'{"events": []}'
    headers = {**signed_headers("mini", g.secrets["mini"][0], "POST", "/v1/events", "", body), "Content-Type": "application/json"}
    first = g.client.post("/v1/events", content=body, headers=headers)
    assert first.status_code == 200, first.text
    assert error_of(g.client.post("/v1/events", content=body, headers=headers), 401) == "replayed_request"
    # a fresh nonce (and signature) goes through again
    fresh = {**signed_headers("mini", g.secrets["mini"][0], "POST", "/v1/events", "", body), "Content-Type": "application/json"}
    assert g.client.post("/v1/events", content=body, headers=fresh).status_code == 200


def test_a_body_changed_after_signing_is_a_bad_signature(gate):
    g = gate()
    signed = b'{"events": []}'
    headers = {**signed_headers("mini", g.secrets["mini"][0], "POST", "/v1/events", "", signed), "Content-Type": "application/json"}
    changed = b'{"events": [{"event_id": "smuggled"}]}'
    assert error_of(g.client.post("/v1/events", content=changed, headers=headers), 401) == "bad_signature"
    # the refused request did not burn the nonce: the genuine one still goes through
    assert g.client.post("/v1/events", content=signed, headers=headers).status_code == 200


def test_a_query_changed_after_signing_is_a_bad_signature(gate):
    g = gate()
    path = "/v1/users/u00000003/visibility"
    headers = signed_headers("mini", g.secrets["mini"][0], "GET", path, "as_of=2026-11-24T00:00:00Z")
    for query in ("as_of=2026-11-25T00:00:00Z", "as_of=2026-11-24T00:00:00Z&extra=1", ""):
        assert error_of(g.client.get(f"{path}?{query}" if query else path, headers=headers), 401) == "bad_signature"
    other_path = signed_headers("mini", g.secrets["mini"][0], "GET", "/v1/users/u00000004/visibility")
    assert error_of(g.client.get(path, headers=other_path), 401) == "bad_signature"
    other_method = signed_headers("mini", g.secrets["mini"][0], "POST", "/v1/schema/events")
    assert error_of(g.client.get("/v1/schema/events", headers=other_method), 401) == "bad_signature"


def test_the_order_of_query_parameters_does_not_matter(gate):
    g = gate()
    path = "/v1/users/u00000003/visibility"
    headers = signed_headers("mini", g.secrets["mini"][0], "GET", path, "as_of=2026-11-24T00:00:00Z&zz=1")
    response = g.client.get(f"{path}?zz=1&as_of=2026-11-24T00:00:00Z", headers=headers)
    assert error_of(response, 404) == "unknown_user"  # past the gate: the data dir is empty
    # PartnerSigner signs whatever order httpx sends
    assert error_of(g.client.get(path, params=[("zz", "1"), ("as_of", "2026-11-24T00:00:00Z")], auth=g.signer()), 404) == "unknown_user"


def test_a_nonce_of_the_wrong_shape_is_refused(gate):
    g = gate()
    headers = signed_headers("mini", g.secrets["mini"][0], "GET", "/v1/schema/events", nonce="short")
    assert error_of(g.client.get("/v1/schema/events", headers=headers), 401) == "bad_nonce"


def test_forged_expired_and_malformed_tokens_are_invalid(gate):
    g = gate()
    secret = token_secret(g.data)
    genuine = issue_token(secret, role="risk_analyst", subject="ann")
    assert g.client.get("/v1/reviews", auth=BearerToken(genuine)).status_code == 200
    prefix, claims, mac = genuine.split(".")
    forged_claims = issue_token(secret, role="admin", subject="ann").split(".")[1]
    bad = {
        "another secret": issue_token(bytes(32), role="admin", subject="mallory"),
        "claims swapped": f"{prefix}.{forged_claims}.{mac}",
        "expired": issue_token(secret, role="admin", subject="ann", ttl_seconds=60, now=time.time() - 120),
        "not a role": issue_token(secret, role="superuser", subject="ann"),
        "garbage": "lg1.abc",
    }
    for case, token in bad.items():
        response = g.client.get("/v1/reviews", auth=BearerToken(token))
        assert error_of(response, 401) == "invalid_token", case
    assert error_of(g.client.get("/v1/reviews", headers={"Authorization": f"Basic {genuine}"}), 401) == "invalid_token"
    assert "expired" in g.client.get("/v1/reviews", auth=BearerToken(bad["expired"])).json()["error"]["message"]


def test_during_a_key_rotation_both_secrets_verify(gate):
    old, new = new_secret(), new_secret()
    g = gate({"mini": {"secrets": [new, old]}, "solo": {}})
    assert g.client.get("/v1/schema/events", auth=PartnerSigner("mini", old)).status_code == 200
    assert g.client.get("/v1/schema/events", auth=PartnerSigner("mini", new)).status_code == 200
    assert error_of(g.client.get("/v1/schema/events", auth=PartnerSigner("mini", new_secret())), 401) == "bad_signature"
    assert error_of(g.client.get("/v1/schema/events", auth=PartnerSigner("solo", old)), 401) == "bad_signature"  # not another partner's key


def test_a_partner_outside_its_networks_is_refused(gate):
    g = gate({"office": {"ips": ["10.0.0.0/8"]}, "mini": {}})
    assert error_of(g.client.get("/v1/schema/events", auth=g.signer("office")), 403) == "ip_not_allowed"  # TestClient's host is "testclient"
    assert g.client.get("/v1/schema/events", auth=g.signer("mini")).status_code == 200


# ---- rate limits ---------------------------------------------------------------------------------
def test_a_partner_over_its_rate_is_limited(gate):
    g = gate({"slow": {"rate": {"per_second": 1, "burst": 3}}, "mini": {}})
    answers = [g.client.get("/v1/schema/events", auth=g.signer("slow")) for _ in range(4)]
    assert [a.status_code for a in answers[:3]] == [200, 200, 200]
    assert [a.headers["RateLimit-Remaining"] for a in answers[:3]] == ["2", "1", "0"]  # the tighter bucket: the partner's
    assert all(a.headers["RateLimit-Limit"] == "3" for a in answers[:3])
    limited = answers[3]
    assert error_of(limited, 429) == "rate_limited"
    assert limited.headers["RateLimit-Limit"] == "3" and limited.headers["RateLimit-Remaining"] == "0"
    assert int(limited.headers["Retry-After"]) == 1 and 1 <= int(limited.headers["RateLimit-Reset"]) <= 3
    assert g.client.get("/v1/schema/events", auth=g.signer("mini")).status_code == 200  # another partner's bucket is its own
    time.sleep(float(limited.headers["Retry-After"]) + 0.05)
    assert g.client.get("/v1/schema/events", auth=g.signer("slow")).status_code == 200


def test_successful_responses_carry_the_rate_limit_headers(gate):
    g = gate()
    for auth in (g.signer(), g.token("risk_analyst")):
        response = g.client.get("/v1/schema/events", auth=auth)
        assert response.status_code == 200
        assert all(response.headers.get(h, "").isdigit() for h in RATE_HEADERS), dict(response.headers)
        assert "Retry-After" not in response.headers
    assert all(h not in g.client.get("/v1/health").headers for h in RATE_HEADERS)  # public routes spend no bucket


def test_the_per_ip_limit_applies_to_bearer_tokens(gate):
    g = gate(policy=policy_with(ip_rate={"per_second": 0.5, "burst": 3}))
    admin, analyst = g.token("admin"), g.token("risk_analyst")
    assert [g.client.get("/v1/reviews", auth=admin).status_code for _ in range(3)] == [200, 200, 200]
    limited = g.client.get("/v1/reviews", auth=admin)
    assert error_of(limited, 429) == "rate_limited" and "ip" in limited.json()["error"]["message"]
    assert int(limited.headers["Retry-After"]) >= 1 and limited.headers["RateLimit-Limit"] == "3"
    assert error_of(g.client.get("/v1/reviews", auth=analyst), 429) == "rate_limited"  # the same IP, another caller
    assert error_of(g.client.get("/v1/reviews"), 429) == "rate_limited"  # spent before authentication
    assert g.client.get("/v1/health").status_code == 200


@settings(max_examples=300, deadline=None)
@given(
    per_second=st.floats(0.01, 1000, allow_nan=False),
    burst=st.integers(1, 40),
    start=st.floats(0, 1e4, allow_nan=False),
    gaps=st.lists(st.one_of(st.just(0.0), st.floats(0, 5, allow_nan=False)), min_size=1, max_size=150),
)
def test_take_never_allows_more_than_burst_plus_rate_times_time(per_second, burst, start, gaps):
    rate = RateLimit(per_second=per_second, burst=burst)
    arrivals = list(accumulate(gaps, initial=start))
    tokens, updated, allowed = float(burst), arrivals[0], []
    for now in arrivals:
        tokens, state = take(tokens, updated, now, rate)
        updated = now
        assert 0 <= state.remaining <= burst and state.limit == burst
        assert (state.retry_after == 0) == state.allowed and state.retry_after <= 1 / per_second + 1e-9
        if state.allowed:
            allowed.append(now)
        else:  # waiting as told is enough
            assert take(tokens, now, now + state.retry_after + 1e-6, rate)[1].allowed
    # over every stretch of time, from the first request allowed in it to the last
    for i, first in enumerate(allowed):
        for j in range(i, len(allowed)):
            assert j - i + 1 <= burst + per_second * (allowed[j] - first) + 1e-6


# ---- shared limits (Redis) -----------------------------------------------------------------------
@needs_redis
def test_redis_and_memory_limits_answer_alike():
    import redis

    url = f"redis://{REDIS_HOST}:{REDIS_PORT}/{LIMITS_DB}"
    prefix = f"lendguard-test:{uuid.uuid4().hex}:"
    rate = RateLimit(per_second=0.5, burst=3)  # slow: a request's few milliseconds do not count

    async def run(limits) -> tuple[list[bool], list[int], list[bool]]:
        allowed, remaining = [], []
        for pause in (0, 0, 0, 0, 0, 2.2, 0, 0):  # a burst, then one token back
            await asyncio.sleep(pause)
            state = await limits.hit("caller:partner:p", rate)
            allowed.append(state.allowed)
            remaining.append(state.remaining)
        nonces = [await limits.first_use("p:n1", 60), await limits.first_use("p:n1", 60), await limits.first_use("p:n2", 60)]
        return allowed, remaining, nonces

    async def both():
        shared = RedisLimits(url, prefix=prefix)
        try:
            return await asyncio.gather(run(MemoryLimits()), run(shared))
        finally:
            await shared.close()

    try:
        memory, shared = asyncio.run(both())
    finally:
        client = redis.Redis.from_url(url)
        keys = list(client.scan_iter(f"{prefix}*"))
        if keys:
            client.delete(*keys)
        client.close()
    assert memory == shared
    assert memory[0] == [True, True, True, False, False, True, False, False]
    assert memory[2] == [True, False, True]


def start_server(data: Path, env: dict[str, str], log: Path) -> tuple[subprocess.Popen, str]:
    return start_serve(data, log, env, clear=ENV_TO_CLEAR)


@needs_redis
def test_two_processes_share_nonces_and_buckets_through_redis(tmp_path, monkeypatch):
    import redis

    url = f"redis://{REDIS_HOST}:{REDIS_PORT}/{SERVERS_DB}"
    flusher = redis.Redis.from_url(url)
    flusher.flushdb()
    flusher.close()
    for name in ENV_TO_CLEAR:
        monkeypatch.delenv(name, raising=False)
    data = tmp_path / "data"
    keys = {"mini": new_secret(), "capped": new_secret()}
    save_registry(registry_path(data), {
        "mini": PartnerEntry(name="mini", secrets=[keys["mini"]]),
        "capped": PartnerEntry(name="capped", secrets=[keys["capped"]], rate=RateLimit(per_second=0.01, burst=4)),
    })
    token_secret(data)  # made once here, not raced for by the two processes
    env = {"LENDGUARD_AUTH": "on", "LENDGUARD_REDIS_URL": url}
    processes = []
    try:
        for name in ("a", "b"):  # one after the other: the first creates the ledger
            processes.append(start_server(data, env, tmp_path / f"server-{name}.log"))
        (_, a), (_, b) = processes
        for base in (a, b):
            ready = httpx.get(f"{base}/v1/ready", timeout=10)
            assert ready.status_code == 200 and ready.json()["checks"]["limits_store"] == "ok", ready.text

        # (a) a request signed once, sent to A, then replayed to B
        headers = signed_headers("mini", keys["mini"], "GET", "/v1/schema/events")
        assert httpx.get(f"{a}/v1/schema/events", headers=headers, timeout=10).status_code == 200
        assert error_of(httpx.get(f"{b}/v1/schema/events", headers=headers, timeout=10), 401) == "replayed_request"

        # (b) one bucket of 4 for the partner, however its requests are spread
        signer = PartnerSigner("capped", keys["capped"])
        answers = [httpx.get(f"{base}/v1/schema/events", auth=signer, timeout=10) for base in (a, b) * 4]
        assert [r.status_code for r in answers] == [200] * 4 + [429] * 4, [r.text[:200] for r in answers]
        assert all(error_of(r, 429) == "rate_limited" and r.headers["RateLimit-Limit"] == "4" for r in answers[4:])
        assert httpx.get(f"{a}/v1/schema/events", auth=PartnerSigner("mini", keys["mini"]), timeout=10).status_code == 200
    finally:
        for process, _ in processes:
            process.terminate()
        for process, _ in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


# ---- bugs found and fixed: each of these failed before its fix ----
def test_a_bearer_caller_cannot_borrow_a_partners_rate_by_naming_it(gate):
    g = gate({"big": {"rate": {"per_second": 1000, "burst": 5000}}}, policy=policy_with(partner_rate={"per_second": 0.01, "burst": 2}))
    plain = [g.client.get("/v1/reviews", auth=g.token("admin", ttl_seconds=600)).status_code for _ in range(3)]
    assert plain == [200, 200, 429]  # a token caller's own bucket: the policy's partner_rate
    named = [g.client.get("/v1/reviews", auth=g.token("risk_analyst"), headers={PARTNER_HEADER: "big"}).status_code for _ in range(3)]
    assert named == [200, 200, 429]


def test_a_timestamp_of_other_digits_is_stale_not_a_server_error(gate):
    g = gate()
    headers = signed_headers("mini", g.secrets["mini"][0], "GET", "/v1/schema/events")
    raw = [(k.encode(), v.encode()) for k, v in headers.items() if k != TIMESTAMP_HEADER] + [(TIMESTAMP_HEADER.encode(), b"\xb2")]

    async def call() -> httpx.Response:  # raw header bytes, as a real HTTP client sends them
        transport = httpx.ASGITransport(app=g.client.app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://gate") as client:
            return await client.get("/v1/schema/events", headers=raw)

    assert error_of(asyncio.run(call()), 401) == "stale_request"


def test_a_token_key_caught_half_written_is_never_an_empty_secret(tmp_path, monkeypatch):
    monkeypatch.delenv("LENDGUARD_TOKEN_SECRET", raising=False)
    path = tmp_path / "security" / "token.key"
    path.parent.mkdir(parents=True)
    path.touch()  # what another process's O_CREAT|O_EXCL leaves until its write lands
    try:
        secret = token_secret(tmp_path)
    except (ValueError, OSError):
        return  # refusing to start is safe
    assert len(secret) >= 16
