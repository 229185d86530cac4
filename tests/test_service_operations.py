"""The service as operations run it, end to end against real `lendguard serve` processes with
the access gate ON (LENDGUARD_AUTH=on) and an admin partner signing every request:

* liveness and readiness (and readiness failing, naming the limits store, when Redis is down);
* Prometheus metrics: request counts by route, latency buckets, events, decisions, refusals,
  checked by their numbers;
* JSON logs with request ids, the client's X-Request-ID echoed in the header and the access line;
* personal data never in clear: planted phone, ID and card numbers (and a name) are found in no
  file of the data dir (SQLite, Parquet, JSONL, keys, logs), nor in the server's log, nor in
  any table of the PostgreSQL ledger, while an admin still reads them back exactly;
* graceful shutdown: SIGTERM in the middle of a stream of event batches loses no event the
  server acknowledged, stores none twice, and the process exits 0 within its grace period.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import threading
import time
import urllib.parse
from pathlib import Path

import httpx
import polars as pl
import pytest
from ledger_support import ledger_url
from prometheus_client.parser import text_string_to_metric_families
from server_support import start_serve
from sqlalchemy import select
from test_api import payment

from lendguard.identity.checks import field_problem
from lendguard.policy.security import RateLimit
from lendguard.security.client import PartnerSigner
from lendguard.security.partners import (
    PartnerEntry,
    new_secret,
    registry_path,
    save_registry,
)
from lendguard.store.catalog import event_ids
from lendguard.store.events import EventStore

pytestmark = pytest.mark.slow

PARTNER = "ops-admin"
GRACE = 15  # --shutdown-grace of the servers, seconds
# A graceful stop on SIGTERM exits 0 (uvicorn re-raises the captured signal after its
# shutdown; `serve` answers it with a clean exit).
CLEAN_EXIT = (0,)
# Settings of the engineer's shell that would point a test server at other stores or keys.
ISOLATED = (
    "LENDGUARD_DATABASE_URL", "LENDGUARD_REDIS_URL", "LENDGUARD_PARTNERS", "LENDGUARD_TOKEN_SECRET", "LENDGUARD_POLICY",
    "LENDGUARD_SCORECARD", "LENDGUARD_MASTER_KEY", "LENDGUARD_MASTER_KEY_PREVIOUS", "LENDGUARD_LOG_LEVEL", "LENDGUARD_DATA_DIR",
)


# ---- servers -------------------------------------------------------------------------------------
class Server:
    def __init__(self, process: subprocess.Popen, base: str, data: Path, log: Path, signer: PartnerSigner) -> None:
        self.process, self.base, self.data, self.log, self.signer = process, base, data, log, signer

    def client(self, **kwargs) -> httpx.Client:
        return httpx.Client(base_url=self.base, auth=self.signer, timeout=30, **kwargs)

    def log_lines(self) -> list[str]:
        return self.log.read_text(encoding="utf-8", errors="replace").splitlines()

    def stop(self) -> int:
        """SIGTERM, then the exit code (within the grace period)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=GRACE)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError(f"the server did not exit within {GRACE}s of SIGTERM") from None


def register_admin(data: Path) -> PartnerSigner:
    """An admin partner on 127.0.0.1 (so the per-IP bucket does not apply) with a bucket no
    test reaches."""
    secret = new_secret()
    entry = PartnerEntry(name="operations tests", role="admin", secrets=[secret], ips=["127.0.0.1/32"], rate=RateLimit(per_second=10_000, burst=10_000))
    save_registry(registry_path(data), {PARTNER: entry})
    return PartnerSigner(PARTNER, secret)


def start_server(data: Path, log: Path, env: dict[str, str] | None = None) -> Server:
    signer = register_admin(data)
    process, base = start_serve(data, log, {"LENDGUARD_AUTH": "on", **(env or {})}, args=["--shutdown-grace", str(GRACE)], clear=ISOLATED)
    return Server(process, base, data, log, signer)


def copy_population(population_dir: Path, tmp_path: Path) -> Path:
    data = tmp_path / "data"
    shutil.copytree(population_dir, data)
    return data


@pytest.fixture(scope="module")
def server(population_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("operations")
    running = start_server(copy_population(population_dir, root), root / "server.log")
    yield running
    running.stop()


# ---- metrics helpers -------------------------------------------------------------------------------
def scrape(base: str) -> dict[tuple[str, frozenset], float]:
    """Every sample of /metrics: (name, labels) -> value. /metrics is public: no signature."""
    response = httpx.get(f"{base}/metrics", timeout=10)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def total(samples: dict, name: str, **labels: str) -> float:
    """The sum over every sample of `name` whose labels include `labels`."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= ls)


# ---- liveness, readiness ---------------------------------------------------------------------------
def test_health_and_ready(server):
    with server.client() as client:
        health = client.get("/v1/health")
        assert health.status_code == 200 and health.json()["status"] == "ok" and health.json()["policy_version"]
        ready = client.get("/v1/ready")
    assert ready.status_code == 200, ready.text
    body = ready.json()
    assert body["status"] == "ready"
    assert {"event_catalogue", "ledger_database", "limits_store"} <= set(body["checks"])
    assert all(result == "ok" for result in body["checks"].values()), body
    # Both are public: they answer without credentials, as the platform's probes call them.
    assert httpx.get(f"{server.base}/v1/health").status_code == 200
    assert httpx.get(f"{server.base}/v1/ready").status_code == 200


def test_ready_is_503_naming_the_limits_store_when_redis_does_not_answer(population_dir, tmp_path):
    down = start_server(copy_population(population_dir, tmp_path), tmp_path / "server.log", {"LENDGUARD_REDIS_URL": "redis://127.0.0.1:1/0"})
    try:
        with down.client() as client:
            assert client.get("/v1/health").status_code == 200  # alive, but not ready
            ready = client.get("/v1/ready")
    finally:
        assert down.stop() in CLEAN_EXIT
    assert ready.status_code == 503, ready.text
    error = ready.json()["error"]
    assert set(error) == {"code", "message", "details"} and error["code"] == "not_ready" and error["message"]
    results = {d["check"]: d["result"] for d in error["details"]}
    assert results["limits_store"].startswith("failed: ")
    assert all(r == "ok" for name, r in results.items() if name != "limits_store"), results


# ---- metrics -----------------------------------------------------------------------------------------
def test_metrics_count_requests_latencies_events_decisions_and_refusals(server):
    route = "/v1/users/{user_id}/visibility"
    before = scrape(server.base)
    users = ["u00000021", "u00000022", "u00000023"]
    events = [payment(f"metrics-{i}", "u00000024") for i in range(5)] + [payment("metrics-bad", "u00000024", amount="-1")]
    with server.client() as client:
        reads = [client.get(f"/v1/users/{user}/visibility") for user in users]
        posted = client.post("/v1/events", json={"events": events})
    unsigned = httpx.get(f"{server.base}/v1/users/u00000021/visibility")
    assert all(r.status_code == 200 for r in reads), [r.text for r in reads]
    assert posted.status_code == 200 and posted.json()["accepted"] == 5 and len(posted.json()["rejected"]) == 1
    assert unsigned.status_code == 401 and unsigned.json()["error"]["code"] == "unauthenticated"
    time.sleep(0.2)  # the access line and the counters are written just after the response
    after = scrape(server.base)

    def delta(name: str, sum_over: bool = False, **labels: str) -> float:
        read = total if sum_over else value
        return read(after, name, **labels) - read(before, name, **labels)

    assert delta("lendguard_http_requests_total", method="GET", route=route, status="200") == 3
    assert delta("lendguard_http_requests_total", method="GET", route=route, status="401") == 1
    assert delta("lendguard_http_requests_total", method="POST", route="/v1/events", status="200") == 1
    assert value(after, "lendguard_http_requests_total", method="GET", route="/metrics", status="200") >= 1
    # Latency: 4 visibility requests (3 signed, 1 refused) in cumulative buckets ending at +Inf.
    buckets = sorted(
        ((float(dict(ls)["le"]), v) for (n, ls), v in after.items() if n == "lendguard_http_request_duration_seconds_bucket" and dict(ls).get("route") == route),
    )
    assert len(buckets) >= 10 and buckets[-1][0] == float("inf")
    assert all(a[1] <= b[1] for a, b in zip(buckets, buckets[1:])), buckets
    assert delta("lendguard_http_request_duration_seconds_bucket", method="GET", route=route, le="+Inf") == 4
    assert delta("lendguard_http_request_duration_seconds_count", method="GET", route=route) == 4
    assert delta("lendguard_http_request_duration_seconds_sum", method="GET", route=route) > 0
    assert value(after, "lendguard_http_request_duration_seconds_count", method="GET", route=route) == buckets[-1][1]
    # Events by outcome, decisions by outcome, refusals by code.
    assert delta("lendguard_events_total", outcome="accepted") == 5
    assert delta("lendguard_events_total", outcome="rejected") == 1
    assert delta("lendguard_decisions_total", sum_over=True) == 3
    visible = sum(r.json()["visible"] for r in reads)
    assert delta("lendguard_decisions_total", outcome="visible") == visible
    assert delta("lendguard_decisions_total", outcome="hidden") == 3 - visible
    assert delta("lendguard_access_refusals_total", code="unauthenticated") == 1
    assert delta("lendguard_access_refusals_total", sum_over=True) == 1


# ---- logs --------------------------------------------------------------------------------------------
def access_lines(server: Server, request_id: str, timeout: float = 5.0) -> list[dict]:
    deadline = time.time() + timeout
    while True:
        found = [json.loads(line) for line in server.log_lines() if request_id in line]
        found = [line for line in found if line.get("request_id") == request_id and line.get("logger") == "lendguard.access"]
        if found or time.time() > deadline:
            return found
        time.sleep(0.1)


def test_logs_are_json_lines_and_carry_the_request_id(server):
    with server.client() as client:
        given = client.get("/v1/users/u00000031/visibility", headers={"X-Request-ID": "abc-123"})
        made = client.get("/v1/users/u00000032/visibility")
        unusable = client.get("/v1/users/u00000033/visibility", headers={"X-Request-ID": "not usable: spaces"})
    assert given.status_code == 200 and given.headers["x-request-id"] == "abc-123"
    assert len(made.headers["x-request-id"]) == 32 and made.headers["x-request-id"] != "abc-123"
    assert unusable.headers["x-request-id"] != "not usable: spaces" and len(unusable.headers["x-request-id"]) == 32
    [line] = access_lines(server, "abc-123")
    assert line["message"] == "request" and line["level"] == "INFO"
    assert (line["method"], line["route"], line["status"], line["caller"]) == ("GET", "/v1/users/{user_id}/visibility", 200, PARTNER)
    assert isinstance(line["duration_ms"], (int, float)) and line["duration_ms"] >= 0
    assert access_lines(server, made.headers["x-request-id"])
    # Every line the server wrote, startup included, is a JSON object with the common fields.
    lines = server.log_lines()
    assert len(lines) > 3
    for text in lines:
        record = json.loads(text)
        assert isinstance(record, dict), text
        assert {"ts", "level", "logger", "message", "request_id"} <= set(record), text


# ---- personal data ----------------------------------------------------------------------------------
def id_number(first17: str) -> str:
    weights, check = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2), "10X98765432"
    return first17 + check[sum(int(d) * w for d, w in zip(first17, weights)) % 11]


def luhn(body: str) -> str:
    total_ = 0
    for position, digit in enumerate(reversed(body)):
        n = int(digit) * (1 if position % 2 else 2)
        total_ += n - 9 if n > 9 else n
    return body + str(-total_ % 10)


PEOPLE = {
    "u00000041": {"name": "欧阳明华", "phone": "13957246813", "id_number": id_number("11010519880423157"), "bank_card": luhn("622202100011234567")},
    "u00000042": {"name": "司马青云", "phone": "15083726194", "id_number": id_number("44030419920817263"), "bank_card": luhn("621700381002736")},
    "u00000043": {"name": "诸葛子瑜", "phone": "18629475031", "id_number": id_number("31011519751209348"), "bank_card": luhn("43674209185520")},
}


def needles(people: dict) -> dict[str, bytes]:
    """Each planted value as it could sit in a file in clear: as sent, and a card also in
    groups of four with spaces or dashes."""
    found: dict[str, bytes] = {}
    for fields in people.values():
        for field, text in fields.items():
            found[f"{field} {text}"] = text.encode()
            if field == "bank_card":
                groups = [text[i : i + 4] for i in range(0, len(text), 4)]
                found[f"{field} spaced"] = " ".join(groups).encode()
                found[f"{field} dashed"] = "-".join(groups).encode()
    return found


def parquet_text(path: Path) -> bytes:
    """A Parquet file's cells (its pages are compressed, so its bytes alone prove nothing)."""
    return pl.read_parquet(path).write_json().encode()


def clear_hits(root: Path, wanted: dict[str, bytes]) -> list[str]:
    """Where under `root` a planted value is in clear: every file's bytes, Parquet decoded."""
    hits = []
    files = [p for p in sorted(root.rglob("*")) if p.is_file()]
    assert files
    for path in files:
        contents = [path.read_bytes()]
        if path.suffix == ".parquet":
            contents.append(parquet_text(path))
        for label, needle in wanted.items():
            if any(needle in content for content in contents):
                hits.append(f"{path.relative_to(root)}: {label}")
    return hits


def postgres_dump(url: str) -> str:
    """Every row of every table in the throwaway schema, as text (bytea shows as hex)."""
    from sqlalchemy import create_engine, text

    schema = urllib.parse.unquote(url.split("search_path%3D", 1)[1]) if "search_path%3D" in url else url.split("search_path=", 1)[1]
    engine = create_engine(url.split("?", 1)[0])
    try:
        with engine.connect() as conn:
            tables = conn.execute(text("select table_name from information_schema.tables where table_schema = :s"), {"s": schema}).scalars().all()
            assert "borrower_identities" in tables, tables
            rows = [f'{table}: {row}' for table in tables for row in conn.execute(text(f'select t::text from "{schema}"."{table}" t')).scalars()]
    finally:
        engine.dispose()
    return "\n".join(rows)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_personal_data_is_never_in_clear(backend, population_dir, tmp_path):
    data = copy_population(population_dir, tmp_path)
    log = tmp_path / "server.log"
    for person in PEOPLE.values():
        assert all(field_problem(f, v) is None for f, v in person.items()), person
    with ledger_url(backend, tmp_path) as url:
        env = {"LENDGUARD_DATABASE_URL": url} if backend == "postgresql" else {}  # SQLite: the ledger file inside the data dir
        running = start_server(data, log, env)
        try:
            with running.client() as client:
                for user, person in PEOPLE.items():
                    put = client.put(f"/v1/users/{user}/identity", json=person)
                    assert put.status_code == 200, put.text
                    assert put.json()["masked"] is True
                    assert not any(v in put.text for v in person.values()), put.text
                    masked = client.get(f"/v1/users/{user}/identity")
                    assert masked.status_code == 200 and not any(v in masked.text for v in person.values()), masked.text
                phone, other = PEOPLE["u00000041"]["phone"], PEOPLE["u00000042"]
                # In a URL path (no such user), in a query that fails validation, in bodies that fail it.
                assert client.get(f"/v1/users/{phone}/visibility").status_code == 404
                assert client.get(f"/v1/users/{phone}/visibility", params={"as_of": other["id_number"]}).status_code == 422
                assert client.get(f"/v1/users/{other['id_number']}/identity").status_code == 404
                broken_card = other["bank_card"][:-1] + str((int(other["bank_card"][-1]) + 1) % 10)  # fails the Luhn check
                bad_card = client.put("/v1/users/u00000044/identity", json={"phone": phone, "bank_card": broken_card})
                assert bad_card.status_code == 422 and bad_card.json()["error"]["code"] == "invalid_identity"
                unknown_field = client.put("/v1/users/u00000044/identity", json={"phone": other["phone"], "card": other["bank_card"], "id_number": 12})
                assert unknown_field.status_code == 422 and unknown_field.json()["error"]["code"] == "invalid_request"
                for response in (bad_card, unknown_field):
                    assert not any(v in response.text for v in (phone, other["phone"], other["bank_card"])), response.text
                # Stored for real: an admin reveals each value exactly.
                for user, person in PEOPLE.items():
                    revealed = client.get(f"/v1/users/{user}/identity", params={"reveal": "true"})
                    assert revealed.status_code == 200, revealed.text
                    assert revealed.json() == {"user_id": user, "masked": False, **person}
                assert client.get("/v1/users/u00000044/identity").status_code == 404  # the refused writes stored nothing
        finally:
            assert running.stop() in CLEAN_EXIT
        wanted = needles(PEOPLE)
        assert clear_hits(data, wanted) == []
        assert [label for label, needle in wanted.items() if needle in log.read_bytes()] == []
        if backend == "postgresql":
            dump = postgres_dump(url)
            assert dump.count("borrower_identities:") >= len(PEOPLE)
            in_clear = [label for label, needle in wanted.items() if needle.decode() in dump or needle.hex() in dump]
            assert in_clear == []


def test_a_formatted_phone_in_a_path_is_masked_in_the_log(server):
    phone = PEOPLE["u00000041"]["phone"]
    formatted = [f"{phone[:3]}-{phone[3:7]}-{phone[7:]}", f"{phone[:3]} {phone[3:7]} {phone[7:]}"]
    with server.client() as client:
        ids = [client.get(f"/v1/users/{text}/visibility").headers["x-request-id"] for text in formatted]
    lines = [line for request_id in ids for line in access_lines(server, request_id)]
    assert len(lines) == 2
    assert [text for text in formatted if any(text in json.dumps(line, ensure_ascii=False) for line in lines)] == []


def test_a_rejected_event_keeps_no_personal_data_in_clear(server):
    person = PEOPLE["u00000042"]
    events = [payment("pii-rejected-1", person["phone"], amount="-1"), payment("pii-rejected-2", "u00000045", counterparty=person["bank_card"], amount="-1")]
    with server.client() as client:
        response = client.post("/v1/events", json={"events": events})
    assert response.status_code == 422 and len(response.json()["rejected"]) == 2
    assert clear_hits(server.data, needles({"u00000042": {"phone": person["phone"], "bank_card": person["bank_card"]}})) == []


# ---- graceful shutdown ------------------------------------------------------------------------------
def stored_event_ids(data: Path) -> tuple[list[str], list[str]]:
    """The ids in the store's catalogue, and the event_id of every stored payment row."""
    store = EventStore(data)
    with store.engine.connect() as conn:
        registered = list(conn.execute(select(event_ids.c.event_id)).scalars())
    rows = store.scan("payment").select("event_id").collect()["event_id"].to_list()
    store.engine.dispose()
    return registered, rows


def test_sigterm_mid_stream_loses_no_acknowledged_event(population_dir, tmp_path):
    running = start_server(copy_population(population_dir, tmp_path), tmp_path / "server.log")
    acknowledged: list[str] = []
    unexpected: list[str] = []
    lock = threading.Lock()
    terminating = threading.Event()

    def stream(worker: int) -> None:
        with running.client() as client:
            for batch in range(100_000):
                events = [payment(f"sd-{worker}-{batch}-{i}", f"u{100 + (batch + i) % 400:08d}") for i in range(5)]
                try:
                    response = client.post("/v1/events", json={"events": events})
                except httpx.TransportError as exc:
                    if not terminating.is_set():
                        unexpected.append(f"before SIGTERM: {exc!r}")
                    return
                if response.status_code != 200:  # every batch is valid: anything else fails, shutdown or not
                    unexpected.append(f"{response.status_code}: {response.text[:300]}")
                    return
                body = response.json()
                rejected = {r["index"] for r in body["rejected"]}
                with lock:
                    acknowledged.extend(e["event_id"] for n, e in enumerate(events) if n not in rejected and e["event_id"] not in body["duplicates"])

    workers = [threading.Thread(target=stream, args=(n,)) for n in range(2)]
    for worker in workers:
        worker.start()
    try:
        deadline = time.time() + 30
        while len(acknowledged) < 500 and time.time() < deadline and not unexpected:
            time.sleep(0.02)
        streamed = len(acknowledged)
    finally:
        terminating.set()
        signalled = time.monotonic()
        code = running.stop()  # SIGTERM mid-stream; fails if the process outlives the grace period
        took = time.monotonic() - signalled
        for worker in workers:
            worker.join(timeout=30)
    assert streamed >= 500, unexpected
    assert code in CLEAN_EXIT and took < GRACE, (code, took)
    assert unexpected == [], unexpected
    registered, rows = stored_event_ids(running.data)
    registered_set = set(registered)
    assert len(registered) == len(registered_set) and len(rows) == len(set(rows))  # nothing stored twice
    lost = [e for e in acknowledged if e not in registered_set]
    assert lost == [], f"{len(lost)} acknowledged events are not stored, e.g. {lost[:5]}"
    counts = pl.Series(rows).value_counts()
    assert set(acknowledged) <= set(rows)
    assert counts.filter(pl.col("count") > 1).height == 0
    messages = [json.loads(line)["message"] for line in running.log_lines()]
    assert any(m.startswith("shutting down") for m in messages), messages[-10:]


def test_sigterm_exits_0(population_dir, tmp_path):
    running = start_server(copy_population(population_dir, tmp_path), tmp_path / "server.log")
    with running.client() as client:
        assert client.get("/v1/ready").status_code == 200
    code = running.stop()
    messages = [json.loads(line)["message"] for line in running.log_lines()]
    assert any(m.startswith("shutting down") for m in messages)  # the graceful path ran
    assert code == 0
