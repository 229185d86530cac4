"""Benchmark the evidence log (RFC 6962 Merkle tree): append throughput, and proofs on a 10M-leaf log.

    .venv/bin/python benchmarks/evidence.py [--leaves 10000000] [--reuse DIR] [--samples 1000] [--audit]

1. append throughput: `append_many` in batches into a fresh log (target >= 50,000 leaves/s),
   next to the practical limit of the same run: canonical JSON + SHA-256 of the same records
   with no storage at all (what an append cannot go below);
2. builds a log of --leaves leaves with `append_many` in batches (or reuses the one in DIR);
3. times inclusion-proof generation (`prove`: index lookup, signed head, O(log n) preads,
   self-check) and offline verification (`verify_inclusion_bundle`: canonical JSON, audit
   path, Ed25519) for --samples random leaves: median and p99, each target <= 1 ms;
4. times consistency proofs from random older sizes to the current one, and their verification;
5. with --audit, audits the whole log against records regenerated from their ids.

Records are SYNTHETIC (a function of their leaf number), so the log can be rebuilt and audited.
The data gate's overhead on the 1M-user visibility evaluation is `benchmarks/gate.py`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

from lendguard.evidence import EvidenceLog, verify_consistency_proof, verify_inclusion_bundle
from lendguard.evidence.canonical import record_hash

TARGET_APPEND_RATE = 50_000  # leaves/s
TARGET_PROOF_MS = 1.0  # median and p99 of proof generation and of verification
KINDS = ("consent", "decision", "offer", "contract", "review")
EPOCH = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)


def record(n: int) -> tuple[str, str, dict]:
    """The synthetic record of leaf n: (kind, record_id, record)."""
    kind = KINDS[n % len(KINDS)]
    record_id = f"{kind[:3]}-{n:010d}"
    return kind, record_id, {
        "id": record_id,
        "user_id": f"u{(n * 7919) % 1_000_003:08d}",
        "at": EPOCH + dt.timedelta(seconds=n),
        "amount": Decimal(n % 100_000) / 100,
        "status": ("granted", "withdrawn", "approved", "declined")[n % 4],
        "codes": ["CR01", "RG02", "KY03"][: n % 4],
        "policy": "2026.11.0",
    }


def batch(start: int, count: int) -> list[tuple[str, str, dict]]:
    return [record(n) for n in range(start, start + count)]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def verdict(ok: bool) -> str:
    return "OK" if ok else "MISSED"


# ---- 1. append throughput ---------------------------------------------------------------------
def measure_append(leaves: int, batch_size: int) -> tuple[float, float]:
    """(leaves/s through append_many into a fresh log, leaves/s of canonical JSON + hashing alone)."""
    work = Path(tempfile.mkdtemp(prefix="lendguard-evidence-append-"))
    try:
        batches = [batch(start, min(batch_size, leaves - start)) for start in range(0, leaves, batch_size)]
        started = time.perf_counter()
        for items in batches:
            for _kind, _rid, rec in items:
                record_hash(rec)
        floor = leaves / (time.perf_counter() - started)
        with EvidenceLog.open(work) as log:
            started = time.perf_counter()
            for items in batches:
                log.append_many(items)
            rate = leaves / (time.perf_counter() - started)
            assert log.size == leaves
        return rate, floor
    finally:
        shutil.rmtree(work, ignore_errors=True)


# ---- 2. the big log ---------------------------------------------------------------------------
def build(log: EvidenceLog, leaves: int, batch_size: int) -> tuple[float, float]:
    """Grow the log to `leaves` leaves: (wall seconds, of which seconds inside append_many)."""
    have = log.size
    if have >= leaves:
        return 0.0, 0.0
    print(f"appending leaves {have:,} … {leaves:,} in batches of {batch_size:,}", flush=True)
    started = time.perf_counter()
    appending = 0.0
    advance, finish = _progress(leaves, have)
    try:
        for start in range(have, leaves, batch_size):
            count = min(batch_size, leaves - start)
            items = batch(start, count)
            before = time.perf_counter()
            log.append_many(items)
            appending += time.perf_counter() - before
            advance(count)
    finally:
        finish()
    return time.perf_counter() - started, appending


def _progress(total: int, done: int):
    """A rich progress bar on a terminal, a line every ~5 % otherwise."""
    if sys.stdout.isatty():
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn, TimeRemainingColumn

        bar = Progress("appending", BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn())
        task = bar.add_task("leaves", total=total, completed=done)
        bar.start()
        return (lambda n: bar.advance(task, n)), bar.stop
    state = {"done": done, "next": done + total // 20, "started": time.perf_counter(), "from": done}

    def step(n: int) -> None:
        state["done"] += n
        if state["done"] >= state["next"] or state["done"] >= total:
            elapsed = time.perf_counter() - state["started"]
            print(f"  {state['done']:>12,} / {total:,} leaves  {elapsed:7.1f} s  ({(state['done'] - state['from']) / elapsed:,.0f} leaves/s)", flush=True)
            state["next"] += total // 20

    return step, lambda: None


def disk_usage(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


# ---- 3. and 4. proofs -------------------------------------------------------------------------
def time_proofs(log: EvidenceLog, samples: int, seed: int) -> dict[str, list[float]]:
    size = log.size
    rng = random.Random(seed)
    indexes = [rng.randrange(size) for _ in range(samples)]
    public = log.public_key_pem
    prove_ms, verify_ms = [], []
    for index in indexes:
        kind, record_id, rec = record(index)
        started = time.perf_counter()
        bundle = log.prove(record_id, kind)
        middle = time.perf_counter()
        result = verify_inclusion_bundle(bundle, rec, public)
        ended = time.perf_counter()
        if not result.ok or bundle.leaf_index != index:
            raise SystemExit(f"proof of leaf {index} failed: {result.reason}")
        prove_ms.append((middle - started) * 1000)
        verify_ms.append((ended - middle) * 1000)
    consistency_ms, consistency_verify_ms = [], []
    for _ in range(max(100, samples // 10)):
        old = rng.randrange(1, size + 1)
        started = time.perf_counter()
        proof = log.consistency(old)
        middle = time.perf_counter()
        result = verify_consistency_proof(proof, public)
        ended = time.perf_counter()
        if not result.ok:
            raise SystemExit(f"consistency proof from {old} failed: {result.reason}")
        consistency_ms.append((middle - started) * 1000)
        consistency_verify_ms.append((ended - middle) * 1000)
    return {"prove": prove_ms, "verify": verify_ms, "consistency": consistency_ms, "consistency verify": consistency_verify_ms}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--leaves", type=int, default=10_000_000, help="size of the big log (default 10,000,000)")
    parser.add_argument("--reuse", type=Path, default=None, help="data directory of a log to reuse (grown to --leaves if smaller)")
    parser.add_argument("--data-dir", type=Path, default=None, help="where to build the big log (default /tmp/lendguard-bench-evidence-LEAVES)")
    parser.add_argument("--batch", type=int, default=50_000, help="leaves per append_many call when building")
    parser.add_argument("--append-leaves", type=int, default=300_000, help="leaves for the throughput measurement")
    parser.add_argument("--append-batch", type=int, default=10_000, help="leaves per append_many call in the throughput measurement")
    parser.add_argument("--samples", type=int, default=1_000, help="random leaves to prove and verify")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--audit", action="store_true", help="also audit the whole big log (slow: rehashes every record)")
    args = parser.parse_args()

    print(f"{os.cpu_count()} CPUs, python {sys.version.split()[0]}, load average {os.getloadavg()[0]:.1f} before the run")
    rate, floor = measure_append(args.append_leaves, args.append_batch)
    print(
        f"append_many    : {rate:,.0f} leaves/s ({args.append_leaves:,} leaves, batches of {args.append_batch:,})   "
        f"target >= {TARGET_APPEND_RATE:,}  ratio {rate / TARGET_APPEND_RATE:.2f}  {verdict(rate >= TARGET_APPEND_RATE)}"
    )
    print(f"practical limit: {floor:,.0f} leaves/s for canonical JSON + SHA-256 alone, no storage   ratio append/limit {rate / floor:.2f}")

    data_dir = args.reuse or args.data_dir or Path(f"/tmp/lendguard-bench-evidence-{args.leaves}")
    if args.reuse is None and args.data_dir is None and data_dir.exists():
        print(f"clearing {data_dir}")
        shutil.rmtree(data_dir)
    with EvidenceLog.open(data_dir) as log:
        before = log.size
        seconds, appending = build(log, args.leaves, args.batch)
        size = log.size
        if seconds:
            grown = size - before
            print(
                f"built {grown:,} leaves in {seconds:.1f} s ({grown / seconds:,.0f} leaves/s with the synthetic records' generation; "
                f"append_many alone {appending:.1f} s, {grown / appending:,.0f} leaves/s), log now {size:,} leaves in {data_dir}"
            )
        else:
            print(f"reusing {data_dir}: {size:,} leaves")
        print(f"disk: {disk_usage(data_dir / 'evidence') / 2**20:,.0f} MiB of hash files, catalogue {disk_usage(data_dir) / 2**20 - disk_usage(data_dir / 'evidence') / 2**20:,.0f} MiB")

        timings = time_proofs(log, args.samples, args.seed)
        print(f"proofs on {size:,} leaves ({args.samples:,} random leaves; consistency from {len(timings['consistency']):,} random sizes):")
        for name, values in timings.items():
            median, p99 = statistics.median(values), percentile(values, 99)
            target = f"target <= {TARGET_PROOF_MS:.0f} ms  ratio p99/target {p99 / TARGET_PROOF_MS:.2f}  {verdict(median <= TARGET_PROOF_MS and p99 <= TARGET_PROOF_MS)}" if name in ("prove", "verify") else ""
            print(f"  {name:<19}: median {median:.3f} ms  p99 {p99:.3f} ms  max {max(values):.3f} ms   {target}")

        if args.audit:
            started = time.perf_counter()
            sources = {kind: (lambda ids: {rid: record(int(rid.split("-")[1]))[2] for rid in ids}) for kind in KINDS}
            report = log.audit(sources)
            seconds = time.perf_counter() - started
            print(f"audit          : {report.leaves_checked:,} records rehashed, {report.tree_heads_checked:,} heads checked in {seconds:.1f} s: {'OK' if report.ok else f'{len(report.findings)} findings'}")


if __name__ == "__main__":
    main()
