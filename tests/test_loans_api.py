"""Loans over HTTP: offers, lines, drawdowns, repayments; head-cut interest impossible;
hundreds of concurrent calls with repeated idempotency keys against a running server
(SQLite and PostgreSQL); and a SIGKILL in the middle of a burst of repayments."""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ledger_support import ledger_url
from server_support import start_serve
from sqlalchemy import func, select

from lendguard.loans.database import open_ledger
from lendguard.loans.invariants import ledger_problems
from lendguard.loans.models import JournalEntry, Posting

pytestmark = pytest.mark.slow
T0 = "2026-11-24T10:00:00+08:00"


def start_server(data: Path, env: dict[str, str]) -> tuple[subprocess.Popen, str]:
    return start_serve(data, data.parent / f"server-{len(list(data.parent.glob('server-*.log')))}.log", env)


def admitted_user(base: str, product_id: str = "JB") -> tuple[str, dict]:
    """The first synthetic user admitted to `product_id`, with the offer."""
    for n in range(1, 400):
        user_id = f"u{n:08d}"
        response = httpx.get(f"{base}/v1/users/{user_id}/offers", timeout=30)
        if response.status_code == 200:
            offer = next(o for o in response.json() if o["product_id"] == product_id)
            if offer["admitted"]:
                return user_id, offer
    raise AssertionError(f"no synthetic user is admitted to {product_id}")


@pytest.fixture(params=["sqlite", "postgresql"])
def served(request, population_dir, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(population_dir, data)
    with ledger_url(request.param, tmp_path) as url:
        env = {"LENDGUARD_DATABASE_URL": url}
        process, base = start_server(data, env)
        try:
            yield base, data, url, env
        finally:
            process.terminate()
            process.wait(timeout=30)


def journal_counts(url: str, data: Path) -> dict[str, int]:
    sessions = open_ledger(data, url)
    with sessions() as session:
        counts = dict(session.execute(select(JournalEntry.kind, func.count()).group_by(JournalEntry.kind)).all())
        counts["cash_in"] = int(session.execute(select(func.coalesce(func.sum(Posting.debit_minor), 0)).where(Posting.account == "cash")).scalar_one())
    problems = ledger_problems(sessions)
    sessions.kw["bind"].dispose()
    assert problems == []
    return counts


def test_offers_lines_drawdowns_and_repayments_over_http(served):
    base, data, url, _ = served
    user_id, offer = admitted_user(base)
    assert offer["pricing"]["disbursed"] == offer["pricing"]["principal"] and Decimal(offer["apr"]) <= Decimal("0.24")
    refused = httpx.get(f"{base}/v1/users/u00000001/offers").json()
    assert all(o["admitted"] or (o["reasons"] and o["reasons"][0]["advice"]["zh"]) for o in refused)
    assert httpx.get(f"{base}/v1/users/nobody/offers").json()["error"]["code"] == "unknown_user"

    missing_key = httpx.post(f"{base}/v1/lines", json={"user_id": user_id, "product_id": "JB"})
    assert missing_key.status_code == 422 and missing_key.json()["error"]["code"] == "invalid_request"
    line = httpx.post(f"{base}/v1/lines", json={"user_id": user_id, "product_id": "JB"}, headers={"Idempotency-Key": "l1"})
    assert line.status_code == 201 and Decimal(line.json()["limit"]) == Decimal(offer["line"])
    line_id = line.json()["line_id"]
    body = {"amount": "1000.00", "term_months": 3, "method": "equal_installment", "at": T0}
    drawn = httpx.post(f"{base}/v1/lines/{line_id}/drawdowns", json=body, headers={"Idempotency-Key": "d1"})
    assert drawn.status_code == 201 and drawn.json()["disbursed"] == "1000.00"
    again = httpx.post(f"{base}/v1/lines/{line_id}/drawdowns", json=body, headers={"Idempotency-Key": "d1"})
    assert again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true" and again.json()["loan_id"] == drawn.json()["loan_id"]
    other = httpx.post(f"{base}/v1/lines/{line_id}/drawdowns", json={**body, "amount": "999.00"}, headers={"Idempotency-Key": "d1"})
    assert other.status_code == 409 and other.json()["error"]["code"] == "idempotency_key_reused"
    headcut = httpx.post(f"{base}/v1/lines/{line_id}/drawdowns", json={**body, "disbursed": "900.00"}, headers={"Idempotency-Key": "d2"})
    assert headcut.status_code == 422  # no field can withhold part of the principal
    loan_id = drawn.json()["loan_id"]
    contract = httpx.get(f"{base}/v1/loans/{loan_id}/contract").json()
    assert contract["sha256"] == drawn.json()["contract_sha256"] and "IRR" in contract["text_en"]
    paid = httpx.post(f"{base}/v1/loans/{loan_id}/repayments", json={"amount": "100.00", "at": "2026-12-04T10:00:00+08:00"}, headers={"Idempotency-Key": "r1"})
    assert paid.status_code == 200 and Decimal(paid.json()["paid"]["principal"]) > 0
    payoff = httpx.get(f"{base}/v1/loans/{loan_id}/payoff", params={"on": "2026-12-04T10:00:00+08:00"}).json()["payoff"]
    closed = httpx.post(f"{base}/v1/loans/{loan_id}/repayments", json={"amount": payoff, "at": "2026-12-04T10:00:00+08:00"}, headers={"Idempotency-Key": "r2"})
    assert closed.json()["loan"]["status"] == "paid_off"
    bad = httpx.post(f"{base}/v1/loans/{loan_id}/repayments", json={"amount": "1.005"}, headers={"Idempotency-Key": "r3"})
    assert bad.status_code == 422 and "amount" in bad.json()["error"]["details"][0]["field"]
    proof = httpx.get(f"{base}/v1/evidence/proofs/{loan_id}", params={"kind": "loan_contract"})
    assert proof.status_code == 200 and proof.json()["kind"] == "loan_contract"  # the contract is provable
    assert journal_counts(url, data)["disbursement"] == 1


def test_apply_for_a_loan_in_one_call_and_read_its_statement(served):
    base, data, url, _ = served
    user_id, offer = admitted_user(base)
    body = {"user_id": user_id, "product_id": "JB", "amount": "2000.00", "term_months": 3, "at": T0}
    applied = httpx.post(f"{base}/v1/loans", json=body, headers={"Idempotency-Key": "apply-1"})
    assert applied.status_code == 201 and applied.json()["disbursed"] == "2000.00" and Decimal(applied.json()["line"]["limit"]) == Decimal(offer["line"])
    again = httpx.post(f"{base}/v1/loans", json=body, headers={"Idempotency-Key": "apply-1"})
    assert again.status_code == 200 and again.json()["loan_id"] == applied.json()["loan_id"]  # retried: one loan, one line
    more = httpx.post(f"{base}/v1/loans", json={**body, "amount": "500.00"}, headers={"Idempotency-Key": "apply-2"})
    assert more.status_code == 201 and more.json()["line"]["used"] == "2500.00"  # the same line, drawn again
    refused = next(
        f"u{n:08d}" for n in range(1, 400)
        if not next(o for o in httpx.get(f"{base}/v1/users/u{n:08d}/offers").json() if o["product_id"] == "JB")["admitted"]
    )
    stranger = httpx.post(f"{base}/v1/loans", json={**body, "user_id": refused}, headers={"Idempotency-Key": "apply-3"})
    assert stranger.status_code == 422 and stranger.json()["error"]["code"] == "not_admitted"  # no loan without an admitted offer
    loan_id = applied.json()["loan_id"]
    due_date = applied.json()["terms"]["installments"][0]["due_date"]
    statement = httpx.get(f"{base}/v1/loans/{loan_id}/statement", params={"on": f"{due_date}T10:00:00+08:00"}).json()
    assert statement["due"] == applied.json()["terms"]["installments"][0]["amount"]
    assert [e["kind"] for e in statement["entries"]] == ["disbursement"] and statement["entries"][0]["credits"] == {"cash": "2000.00"}
    assert httpx.get(f"{base}/v1/loans/nothing/statement").json()["error"]["code"] == "unknown_loan"
    assert journal_counts(url, data)["disbursement"] == 2


def test_hundreds_of_concurrent_calls_with_repeated_keys(served):
    base, data, url, _ = served
    user_id, offer = admitted_user(base)
    line_id = httpx.post(f"{base}/v1/lines", json={"user_id": user_id, "product_id": "JB"}, headers={"Idempotency-Key": "line"}).json()["line_id"]
    limit = Decimal(offer["line"])
    amount = (limit / 60).quantize(Decimal("1"))  # 100 distinct drawdowns: about 60 fit
    client = httpx.Client(timeout=120, limits=httpx.Limits(max_connections=32))

    def draw(k: int) -> tuple[int, int, dict]:
        r = client.post(f"{base}/v1/lines/{line_id}/drawdowns", json={"amount": str(amount), "term_months": 3, "at": T0}, headers={"Idempotency-Key": f"draw-{k % 100}"})
        return k % 100, r.status_code, r.json()

    with ThreadPoolExecutor(24) as pool:
        draws = list(pool.map(draw, range(250)))  # every key two or three times, interleaved
    by_key: dict[int, set] = {}
    for key, status, body in draws:
        assert status in (200, 201, 409, 422), body
        by_key.setdefault(key, set()).add(body.get("loan_id") or body["error"]["code"])
    loans = sorted({body["loan_id"] for _, _, body in draws if "loan_id" in body})
    assert all(len(outcomes - {"idempotency_busy"}) == 1 for outcomes in by_key.values())  # a key never makes two loans
    assert len(loans) == int(limit // amount)
    line = client.get(f"{base}/v1/lines/{line_id}").json()
    assert Decimal(line["used"]) == amount * len(loans) <= limit

    def repay(k: int) -> tuple[int, int, dict]:
        loan_id = loans[k % 150 % len(loans)]  # a key always names the same loan: retries, not reuse
        r = client.post(f"{base}/v1/loans/{loan_id}/repayments", json={"amount": "10.00", "at": "2026-11-30T10:00:00+08:00"}, headers={"Idempotency-Key": f"pay-{k % 150}"})
        return k % 150, r.status_code, r.json()

    with ThreadPoolExecutor(24) as pool:
        repays = list(pool.map(repay, range(400)))
    applied = {key for key, status, _ in repays if status == 200}
    assert all(status == 200 for _, status, _ in repays) and len(applied) == 150
    counts = journal_counts(url, data)
    assert counts["disbursement"] == len(loans) and counts["repayment"] == 150
    assert counts["cash_in"] == 150 * 10_00  # each repayment once: 1500.00 in minor units


def test_a_sigkill_in_a_burst_of_repayments_loses_and_doubles_nothing(population_dir, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(population_dir, data)
    with ledger_url("sqlite", tmp_path) as url:
        env = {"LENDGUARD_DATABASE_URL": url}
        process, base = start_server(data, env)
        user_id, _ = admitted_user(base)
        line_id = httpx.post(f"{base}/v1/lines", json={"user_id": user_id, "product_id": "JB"}, headers={"Idempotency-Key": "line"}).json()["line_id"]
        loan_id = httpx.post(f"{base}/v1/lines/{line_id}/drawdowns", json={"amount": "5000", "term_months": 12, "at": T0}, headers={"Idempotency-Key": "draw"}).json()["loan_id"]
        requests = [(f"burst-{k}", {"amount": "1.00", "at": "2026-11-30T10:00:00+08:00"}) for k in range(300)]
        client = httpx.Client(timeout=30, limits=httpx.Limits(max_connections=16))

        def send(item) -> int:
            try:
                return client.post(f"{base}/v1/loans/{loan_id}/repayments", json=item[1], headers={"Idempotency-Key": item[0]}).status_code
            except httpx.TransportError:
                return -1  # the server died under this request

        with ThreadPoolExecutor(16) as pool:
            futures = [pool.submit(send, item) for item in requests]
            while sum(f.done() for f in futures) < 80:
                time.sleep(0.01)
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=30)
            outcomes = [f.result() for f in futures]
        assert -1 in outcomes and 200 in outcomes  # the kill landed mid-burst
        process, base = start_server(data, env)
        try:
            again = [client.post(f"{base}/v1/loans/{loan_id}/repayments", json=body, headers={"Idempotency-Key": key}) for key, body in requests]
            assert all(r.status_code == 200 for r in again)
            replayed = sum(r.headers.get("Idempotent-Replayed") == "true" for r in again)
            # Every call answered before the kill is replayed; calls cut off may or may not have committed.
            assert sum(o == 200 for o in outcomes) <= replayed <= sum(o != 409 for o in outcomes)
        finally:
            process.terminate()
            process.wait(timeout=30)
        counts = journal_counts(url, data)
        assert counts["repayment"] == 300 and counts["cash_in"] == 300 * 100  # every repayment exactly once


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(cents=st.integers(100_00, 9_000_00), term=st.sampled_from([1, 3, 6, 12]), method=st.sampled_from(["equal_installment", "equal_principal", "daily_interest"]))
def test_the_api_cannot_disburse_less_than_the_principal(tmp_path_factory, population_dir, cents, term, method):
    from fastapi.testclient import TestClient

    from lendguard.api.app import create_app

    data = tmp_path_factory.mktemp("headcut")
    shutil.copytree(population_dir, data, dirs_exist_ok=True)
    with TestClient(create_app(data)) as client:
        user_id = next(f"u{n:08d}" for n in range(1, 400) if any(o["product_id"] == "JB" and o["admitted"] for o in client.get(f"/v1/users/u{n:08d}/offers").json()))
        line_id = client.post("/v1/lines", json={"user_id": user_id, "product_id": "JB"}, headers={"Idempotency-Key": "l"}).json()["line_id"]
        amount = str(Decimal(cents) / 100)
        drawn = client.post(f"/v1/lines/{line_id}/drawdowns", json={"amount": amount, "term_months": term, "method": method}, headers={"Idempotency-Key": "d"})
        if drawn.status_code == 422 and drawn.json()["error"]["code"] == "exceeds_line":
            return
        body = drawn.json()
        assert drawn.status_code == 201, body
        assert body["disbursed"] == body["terms"]["principal"] == body["terms"]["disbursed"] == f"{Decimal(amount):.2f}"
    counts = journal_counts(f"sqlite:///{data / 'ledger.sqlite'}", data)
    assert counts["disbursement"] == 1
