"""Benchmark pricing and the loan ledger (SPEC §2).

    .venv/bin/python benchmarks/loans.py [--offers 1000000] [--seconds 20] [--clients 32] [--skip-api]

1. APRs of --offers random offers drawn from the policy's products (principal, rate,
   method and term within each product's terms): their schedules in whole fen
   (`loans/bulk.py`), then the APR of each by IRR, ours (`bulk_aprs`, vectorised Newton)
   against pyxirr called once per offer on the same cash flows. Prints both times, the
   ratio and the largest difference. Target: 1M APRs <= 10 s.
2. Schedule generation for the same offers, vectorised, beside the per-loan Decimal
   `build_schedule` on a sample (its rate extrapolated).
3. Repayments per second through the HTTP API (`lendguard serve`, one process) on SQLite
   and on PostgreSQL (127.0.0.1:5432, database `test`, a throwaway schema), --workers server
   processes (default 2, one per CPU of this machine), from --clients
   concurrent keep-alive connections for --seconds, each repayment with its own
   idempotency key, spread over a few hundred loans; p50/p99 latency. Beside it, the same
   load on a bare endpoint of the same server stack (`/v1/health`) as the limit. Target:
   >= 500 repayments/s on PostgreSQL with p99 <= 50 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from decimal import Decimal
from pathlib import Path

import numpy as np

TARGET_APR_SECONDS = 10.0
TARGET_REPAYMENTS = 500
TARGET_P99_MS = 50.0
PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


# ---- 1 and 2: pricing ---------------------------------------------------------------------------
def random_offers(count: int, seed: int = 5):
    from lendguard.policy import load_policy

    policy = load_policy()
    rng = np.random.default_rng(seed)
    ids = sorted(policy.loans.products)
    product = rng.integers(0, len(ids), count)
    groups = {}
    for index, product_id in enumerate(ids):
        p = policy.loans.products[product_id]
        rows = np.flatnonzero(product == index)
        principal = rng.integers(int(p.min_drawdown * 100), int(p.max_line * 100) + 1, len(rows))
        rates = rng.integers(int(p.daily_rate_min / p.rate_step), int(p.daily_rate_max / p.rate_step) + 1, len(rows))
        method = rng.integers(0, len(p.methods), len(rows))
        term = rng.integers(0, len(p.terms_months), len(rows))
        for m, method_name in enumerate(p.methods):
            for t, months in enumerate(p.terms_months):
                pick = (method == m) & (term == t)
                if pick.any():
                    groups[(product_id, method_name, months)] = (principal[pick], rates[pick])
    return policy, groups


def phase_pricing(count: int) -> None:
    import pyxirr

    from lendguard.loans.apr import bulk_aprs
    from lendguard.loans.bulk import bulk_schedules
    from lendguard.loans.money import MoneyRules
    from lendguard.loans.schedule import Terms, add_months, build_schedule

    policy, groups = random_offers(count)
    loans = policy.loans
    money = MoneyRules.of(loans)
    start = dt.date(2026, 11, 24)
    print(f"{count:,} offers in {len(groups)} (product, method, term) groups")

    started = time.perf_counter()
    priced = []
    for (product_id, method, months), (principal, rates) in groups.items():
        product = loans.products[product_id]
        days = (add_months(start, months) - start).days
        schedules = bulk_schedules(principal, rates, product.rate_step, months, method, money, loans.days_per_month, days, product.service_fee_monthly)
        periods = loans.days_per_year / days if method == "daily_interest" else 12.0
        priced.append((schedules.cash_flows(loans.minor_unit), periods))
    schedule_seconds = time.perf_counter() - started

    started = time.perf_counter()
    ours = np.concatenate([bulk_aprs(flows, np.full(len(flows), periods)) for flows, periods in priced])
    apr_seconds = time.perf_counter() - started

    as_lists = [(row.tolist(), periods) for flows, periods in priced for row in flows]
    started = time.perf_counter()
    theirs = np.array([pyxirr.irr(flows) * periods for flows, periods in as_lists])
    pyxirr_seconds = time.perf_counter() - started

    sample = 20_000
    one = [(pid, m, t, int(p[0]), int(r[0])) for (pid, m, t), (p, r) in groups.items()]
    started = time.perf_counter()
    for k in range(sample):
        product_id, method, months, principal, rate = one[k % len(one)]
        build_schedule(Terms(Decimal(principal) / 100, months, method, rate * loans.products[product_id].rate_step, start), money, loans.days_per_month, loans.days_per_year)
    decimal_rate = sample / (time.perf_counter() - started)

    diff = float(np.max(np.abs(ours - theirs)))
    ok = "OK" if apr_seconds <= TARGET_APR_SECONDS else "MISSED"
    print(f"APR, ours        : {count:,} in {apr_seconds:.2f} s ({count / apr_seconds:,.0f}/s)   target <= {TARGET_APR_SECONDS:.0f} s  {ok}")
    print(f"APR, pyxirr naive: {count:,} in {pyxirr_seconds:.2f} s ({count / pyxirr_seconds:,.0f}/s)   ratio ours/pyxirr time = {apr_seconds / pyxirr_seconds:.2f}")
    print(f"                   largest |ours - pyxirr| = {diff:.2e}")
    print(f"schedules, bulk  : {count:,} in {schedule_seconds:.2f} s ({count / schedule_seconds:,.0f}/s), exact fen")
    print(f"schedules, Decimal one by one: {decimal_rate:,.0f}/s (sample of {sample:,}): {count / decimal_rate:.0f} s for {count:,}")


# ---- 3: the ledger through the API ---------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prepare_loans(data: Path, url: str, users: int) -> list[str]:
    """A synthetic population, a line and one loan per admitted user (set-up, not timed)."""
    import polars as pl

    from lendguard.features.window import AsOf
    from lendguard.loans.admission import admission_frame
    from lendguard.loans.book import LoanBook
    from lendguard.loans.database import open_ledger
    from lendguard.loans.offers import offer_of
    from lendguard.policy import load_policy
    from lendguard.store.events import EventStore
    from lendguard.synth.generate import generate_population
    from lendguard.visibility.service import evaluate_store

    policy = load_policy()
    at = dt.datetime(2026, 11, 24, 2, tzinfo=dt.timezone.utc)
    store = EventStore(data)
    generate_population(store, policy, users, at, seed=3)
    decisions = evaluate_store(store, policy, AsOf.of(at, policy)).decisions
    frame = admission_frame(decisions, policy)
    book = LoanBook(open_ledger(data, url), policy)
    loans = []
    for row in frame.filter(pl.col("visible")).iter_rows(named=True):
        offer = offer_of("JB", row, policy, at.date())
        if offer.admitted:
            line = book.open_line(offer, row["user_id"], f"line-{row['user_id']}", at)
            loans.append(book.draw(line["line_id"], Decimal("5000"), 12, "equal_installment", f"draw-{row['user_id']}", at)["loan_id"])
    book.sessions.kw["bind"].dispose()
    return loans


def quantile(ordered: list[float], q: float) -> float:
    """The q-quantile of already sorted values (nearest rank, as every figure here reads it)."""
    return ordered[min(int(len(ordered) * q), len(ordered) - 1)]


async def exchange(reader, writer, request: bytes) -> int:
    """Send one raw HTTP/1.1 request on a keep-alive connection and read its answer whole: the status."""
    writer.write(request)
    status = await reader.readline()
    length = 0
    while (line := await reader.readline()) not in (b"\r\n", b""):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    await reader.readexactly(length)
    return int(status.split()[1]) if status else 0


async def load(port: int, make_request, seconds: float, clients: int) -> tuple[int, list[float], int]:
    """`clients` keep-alive connections sending requests back to back for `seconds`."""
    latencies: list[float] = []
    failures = 0
    deadline = time.perf_counter() + seconds

    async def client(number: int) -> None:
        nonlocal failures
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        sent = 0
        while time.perf_counter() < deadline:
            request = make_request(number, sent)
            sent += 1
            began = time.perf_counter()
            status = await exchange(reader, writer, request)
            latencies.append((time.perf_counter() - began) * 1000)
            if status != 200:
                failures += 1
        writer.close()

    await asyncio.gather(*(client(n) for n in range(clients)))
    return len(latencies), latencies, failures


def cpu_seconds(server_pid: int) -> dict[str, float]:
    """CPU time used so far by the server (with its worker processes), by PostgreSQL's
    processes, and by this process (the load generator)."""
    import psutil

    def used(process: psutil.Process) -> float:
        try:
            times = process.cpu_times()
            return times.user + times.system
        except psutil.NoSuchProcess:
            return 0.0

    server = psutil.Process(server_pid)
    postgres = [p for p in psutil.process_iter(["name"]) if p.info["name"] and p.info["name"].startswith("postgres")]
    return {
        "server": used(server) + sum(used(child) for child in server.children(recursive=True)),
        "postgres": sum(used(p) for p in postgres),
        "generator": used(psutil.Process()),
    }


def http_post(path: str, body: dict, key: str) -> bytes:
    payload = json.dumps(body).encode()
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nIdempotency-Key: {key}\r\n"
        f"Content-Length: {len(payload)}\r\n\r\n"
    ).encode() + payload


def phase_api(backend: str, seconds: float, clients: int, users: int, workers: int) -> dict:
    work = Path(tempfile.mkdtemp(prefix=f"lendguard-bench-loans-{backend}-"))
    schema = None
    if backend == "sqlite":
        url = f"sqlite:///{work / 'data' / 'ledger.sqlite'}"
    else:
        from sqlalchemy import create_engine, text

        schema = f"bench_{uuid.uuid4().hex[:10]}"
        admin = create_engine(PG)
        with admin.begin() as conn:
            conn.execute(text(f"CREATE SCHEMA {schema}"))
        url = f"{PG}?options=-csearch_path%3D{schema}"
    try:
        loans = prepare_loans(work / "data", url, users)
        port = free_port()
        server = subprocess.Popen(
            [sys.executable, "-m", "lendguard.cli.main", "serve", "--port", str(port), "-d", str(work / "data"), "--workers", str(workers)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "LENDGUARD_DATABASE_URL": url, "LENDGUARD_AUTH": "off"},  # the ledger's path; benchmarks/api.py measures it signed
        )
        try:
            health = b"GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
            for _ in range(300):  # every worker process up: answers to a short burst, then a warm-up
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=1):
                        break
                except OSError:
                    time.sleep(0.2)
            asyncio.run(load(port, lambda n, k: health, 3, clients))
            bare = asyncio.run(load(port, lambda n, k: health, min(seconds, 5), clients))
            at = "2026-11-25T10:00:00+08:00"
            run_id = uuid.uuid4().hex[:8]

            def repayment(n: int, k: int) -> bytes:
                loan = loans[(n * 7919 + k) % len(loans)]
                return http_post(f"/v1/loans/{loan}/repayments", {"amount": "1.00", "at": at}, f"{run_id}-{n}-{k}")

            before = cpu_seconds(server.pid)
            done, latencies, failures = asyncio.run(load(port, repayment, seconds, clients))
            after = cpu_seconds(server.pid)
            cpu = {name: (after[name] - before[name]) * 1000 / max(done, 1) for name in after}  # ms of CPU per repayment
        finally:
            server.terminate()
            server.wait(timeout=30)
        from lendguard.loans.database import open_ledger
        from lendguard.loans.invariants import ledger_problems

        sessions = open_ledger(work / "data", url)
        problems = ledger_problems(sessions)
        sessions.kw["bind"].dispose()
        latencies.sort()
        bare_latencies = sorted(bare[1])
        return {
            "loans": len(loans), "requests": done, "failures": failures, "rate": done / seconds,
            "p50": quantile(latencies, 0.5), "p99": quantile(latencies, 0.99),
            "bare_rate": bare[0] / min(seconds, 5), "bare_p99": quantile(bare_latencies, 0.99), "problems": problems,
            "cpu_ms": cpu,
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if schema is not None:
            with admin.begin() as conn:
                conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--offers", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each API load run")
    parser.add_argument("--clients", type=int, default=32, help="concurrent connections")
    parser.add_argument("--users", type=int, default=3000, help="synthetic users behind the loans of the API runs")
    parser.add_argument("--workers", type=int, default=2, help="server worker processes (one per CPU is usual)")
    parser.add_argument("--skip-api", action="store_true")
    args = parser.parse_args(argv)
    print(f"{os.cpu_count()} CPUs")
    phase_pricing(args.offers)
    if args.skip_api:
        return 0
    for backend in ("sqlite", "postgresql"):
        print(f"\nrepayments through the API on {backend} ({args.workers} server processes, {args.clients} connections, {args.seconds:.0f} s) ...", flush=True)
        r = phase_api(backend, args.seconds, args.clients, args.users, args.workers)
        ok = "OK" if r["rate"] >= TARGET_REPAYMENTS and r["p99"] <= TARGET_P99_MS and not r["failures"] else "MISSED"  # refused answers are no repayments
        target = f"   target >= {TARGET_REPAYMENTS}/s with p99 <= {TARGET_P99_MS:.0f} ms  {ok}" if backend == "postgresql" else ""
        print(f"{backend:10s} repayments: {r['rate']:,.0f}/s over {r['loans']} loans, p50 {r['p50']:.1f} ms, p99 {r['p99']:.1f} ms, {r['failures']} non-200{target}")
        print(f"{'':10s} bare endpoint (the limit of this server stack): {r['bare_rate']:,.0f}/s, p99 {r['bare_p99']:.1f} ms; ratio {r['rate'] / r['bare_rate']:.2f}")
        cpu = r["cpu_ms"]
        total = sum(cpu.values())
        print(
            f"{'':10s} CPU per repayment: server {cpu['server']:.2f} ms, PostgreSQL {cpu['postgres']:.2f} ms, load generator {cpu['generator']:.2f} ms; "
            f"total {total:.2f} ms, so {os.cpu_count()} CPUs allow at most {os.cpu_count() * 1000 / total:,.0f}/s"
        )
        print(f"{'':10s} ledger invariants after the run: {'all hold' if not r['problems'] else r['problems'][:3]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
