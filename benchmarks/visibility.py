"""Benchmark entry visibility on a synthetic population (SPEC §1).

    .venv/bin/python benchmarks/visibility.py [--users 1000000] [--data-dir DIR] [--reuse]

1. generates N synthetic users into an event store (or reuses one with --reuse);
2. times, in a fresh child process, the feature computation and the full evaluation
   (features + every check + dimensions + visible, `evaluate_store`) and its peak RSS;
3. times, in another fresh child process, the "practical limit": one hand-written DuckDB
   query over the same Parquet part files computing the same eight dimension flags and
   `visible` from the same policy (lendguard.visibility.reference_sql), and its peak RSS;
4. compares both per user and prints a summary.

The timed parts run in child processes (this script with --phase) so each peak memory
reflects that evaluation alone, not the generation or the other contender.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import polars as pl

from lendguard.events.schema import EVENT_TYPES
from lendguard.features.window import AsOf
from lendguard.policy import Policy, load_policy
from lendguard.store.events import EventStore
from lendguard.synth.generate import CHUNK_USERS, generate_population, synthetic_as_of
from lendguard.visibility.reference_sql import DIMENSION_NAMES

DEFAULT_USERS = 1_000_000
DEFAULT_AS_OF = "2026-11-01T12:00:00+08:00"
TARGET_SECONDS = 60.0
TARGET_MEMORY_GIB = 8.0
TARGET_API_P99_MS = 20.0
TARGET_RATIO = 1.5
BLOCKING = ("fail", "not_assessable")
FLAGS = ("visible", *(f"dim_{d}" for d in DIMENSION_NAMES))
GIB = 1024**3


# ---- helpers -------------------------------------------------------------------------------
def peak_rss() -> int:
    """High-water mark of this process's resident set, in bytes.

    On Linux this is VmHWM from /proc/self/status: getrusage's ru_maxrss survives fork and
    exec, so a child started by a big parent (after generation) would report the parent's
    peak; VmHWM belongs to the process image and starts afresh at exec.
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def current_rss() -> int:
    import psutil

    return psutil.Process().memory_info().rss


def gib(n: float) -> str:
    return f"{n / GIB:.2f} GiB"


def rate(users: int, seconds: float) -> str:
    return f"{users / seconds:,.0f} users/s" if seconds > 0 else "n/a"


def verdict(ok: bool) -> str:
    return "OK" if ok else "MISSED"


def results_dir(data_dir: Path) -> Path:
    path = data_dir / "bench-results"
    path.mkdir(parents=True, exist_ok=True)
    return path


# ---- 1. generation ------------------------------------------------------------------------
def prepare_store(args: argparse.Namespace, policy: Policy) -> tuple[EventStore, AsOf, int, int, float | None]:
    """The store to benchmark: (store, as_of, users, events, generation seconds or None if reused)."""
    data_dir = Path(args.data_dir or f"/tmp/lendguard-bench-{args.users}")
    store = EventStore(data_dir)
    if args.reuse and not store.is_empty():
        at = synthetic_as_of(data_dir) or dt.datetime.fromisoformat(args.as_of)
        manifest = data_dir / "synthetic.json"
        users = json.loads(manifest.read_text())["users"] if manifest.exists() else args.users
        if users != args.users:
            print(f"note: reusing {data_dir} with {users:,} users (not the {args.users:,} asked for)")
        events = sum(store.counts().values())
        print(f"reusing store {data_dir}: {users:,} users, {events:,} events, as-of {at.isoformat()}")
        return store, AsOf.of(at, policy), users, events, None

    if not store.is_empty():
        print(f"clearing existing store {data_dir}")
        from lendguard.synth.generate import reset_data_dir

        reset_data_dir(data_dir)
        store = EventStore(data_dir)
    at = dt.datetime.fromisoformat(args.as_of)
    print(f"generating {args.users:,} users into {data_dir} (as-of {at.isoformat()}, seed {args.seed}, chunks of {CHUNK_USERS:,})")
    started = time.perf_counter()
    progress, finish = _progress(args.users)
    try:
        summary = generate_population(store, policy, args.users, at, seed=args.seed, progress=progress)
    finally:
        finish()
    seconds = time.perf_counter() - started
    print(
        f"generated {summary.users:,} users, {summary.events:,} events in {seconds:.1f} s "
        f"({summary.events / seconds:,.0f} events/s); generator peak RSS {gib(peak_rss())}"
    )
    for event_type, n in sorted(summary.events_by_type.items(), key=lambda kv: -kv[1]):
        print(f"  {event_type:<22} {n:>12,}")
    return store, AsOf.of(at, policy), summary.users, summary.events, seconds


def _progress(total: int):
    """A progress callback (rich bar on a terminal, one line per chunk otherwise) and a finisher."""
    if sys.stdout.isatty():
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        bar = Progress("generating", BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn())
        task = bar.add_task("users", total=total)
        bar.start()
        return (lambda n: bar.advance(task, n)), bar.stop
    done = 0
    started = time.perf_counter()

    def step(n: int) -> None:
        nonlocal done
        done += n
        elapsed = time.perf_counter() - started
        print(f"  {done:>12,} / {total:,} users  {elapsed:7.1f} s  ({done / elapsed:,.0f} users/s)", flush=True)

    return step, lambda: None


def warm_file_cache(store: EventStore) -> None:
    """Read every part file once so neither contender pays for a cold page cache."""
    started = time.perf_counter()
    size = 0
    for event_type in EVENT_TYPES:
        for path in store.part_files(event_type):
            with open(path, "rb") as handle:
                while chunk := handle.read(16 << 20):
                    size += len(chunk)
    print(f"warmed the file cache: {size / GIB:.2f} GiB of Parquet in {time.perf_counter() - started:.1f} s")


# ---- 2. our engine (child process) ----------------------------------------------------------
def phase_ours(args: argparse.Namespace) -> None:
    from lendguard.visibility.dimensions import active_checks
    from lendguard.visibility.service import evaluate_store

    policy = load_policy(args.policy)
    store = EventStore(args.data_dir)
    as_of = AsOf.of(dt.datetime.fromisoformat(args.as_of), policy)
    rss_before = current_rss()
    load = os.getloadavg()[0]
    cpu_started = time.process_time()
    started = time.perf_counter()
    result = evaluate_store(store, policy, as_of)
    seconds = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    peak = peak_rss()
    decisions = result.decisions
    flags = decisions.select(
        "user_id",
        "visible",
        *[(~pl.col(f"dim_{d}").is_in(BLOCKING)).alias(f"dim_{d}") for d in DIMENSION_NAMES],
        *[c.code for c in active_checks(policy)],
    )
    out = Path(args.result)
    flags.write_parquet(out.with_suffix(".parquet"))
    out.write_text(
        json.dumps(
            {
                "users": decisions.height,
                "columns": decisions.width,
                "seconds_features": result.seconds_features,
                "seconds_checks": result.seconds_checks,
                "seconds_total": seconds,
                "cpu_seconds": cpu,
                "load_before": load,
                "peak_rss": peak,
                "rss_before": rss_before,
                "visible": int(decisions["visible"].sum()),
            }
        )
    )


# ---- 3. the practical limit: one DuckDB query (child process) --------------------------------
def phase_limit(args: argparse.Namespace) -> None:
    import duckdb

    from lendguard.visibility.reference_sql import evaluate_reference
    from lendguard.visibility.service import load_risk_states

    policy = load_policy(args.policy)
    store = EventStore(args.data_dir)
    as_of = AsOf.of(dt.datetime.fromisoformat(args.as_of), policy)
    con = duckdb.connect()  # default settings: threads = number of cores
    threads = con.sql("SELECT current_setting('threads')").fetchall()[0][0]
    rss_before = current_rss()
    load = os.getloadavg()[0]
    cpu_started = time.process_time()
    started = time.perf_counter()
    part_files = {t: store.part_files(t) for t in EVENT_TYPES}
    flags = evaluate_reference(part_files, policy, as_of, load_risk_states(store), con=con)
    seconds = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    peak = peak_rss()
    out = Path(args.result)
    flags.write_parquet(out.with_suffix(".parquet"))
    out.write_text(
        json.dumps(
            {
                "users": flags.height,
                "seconds_total": seconds,
                "cpu_seconds": cpu,
                "load_before": load,
                "peak_rss": peak,
                "rss_before": rss_before,
                "threads": threads,
                "visible": int(flags["visible"].sum()),
            }
        )
    )


def run_phase(phase: str, data_dir: Path, as_of: AsOf, args: argparse.Namespace) -> tuple[dict, pl.DataFrame]:
    result = results_dir(data_dir) / f"{phase}.json"
    result.unlink(missing_ok=True)
    command = [
        sys.executable, str(Path(__file__).resolve()), "--phase", phase, "--data-dir", str(data_dir),
        "--as-of", as_of.at.isoformat(), "--result", str(result),
    ]
    if args.policy:
        command += ["--policy", args.policy]
    started = time.perf_counter()
    completed = subprocess.run(command, check=False)
    if completed.returncode != 0 or not result.exists():
        raise SystemExit(f"phase {phase} failed (exit code {completed.returncode})")
    metrics = json.loads(result.read_text())
    metrics["seconds_process"] = time.perf_counter() - started
    return metrics, pl.read_parquet(result.with_suffix(".parquet"))


# ---- 4. agreement ---------------------------------------------------------------------------
def compare(ours: pl.DataFrame, limit: pl.DataFrame, store: EventStore, policy: Policy, as_of: AsOf, show: int) -> float:
    """Per-user agreement of visible and the eight dimension flags; prints any disagreements."""
    joined = ours.join(limit, on="user_id", how="full", coalesce=True, suffix="_sql")
    missing_sql = joined.filter(pl.col("visible_sql").is_null()).height
    missing_ours = joined.filter(pl.col("visible").is_null()).height
    differs = pl.any_horizontal([pl.col(f).ne_missing(pl.col(f"{f}_sql")) for f in FLAGS])
    bad = joined.filter(differs)
    rate_ = 100.0 * (joined.height - bad.height) / joined.height if joined.height else 100.0
    if missing_sql or missing_ours:
        print(f"users only in our engine: {missing_sql:,}; only in the DuckDB query: {missing_ours:,}")
    if bad.height == 0:
        return rate_
    print(f"DISAGREEMENTS: {bad.height:,} users")
    for f in FLAGS:
        n = joined.filter(pl.col(f).ne_missing(pl.col(f"{f}_sql"))).height
        if n:
            print(f"  {f:<24} {n:>10,} users differ (ours pass {joined[f].sum():,}, sql pass {joined[f'{f}_sql'].sum():,})")
    # Re-run the query (untimed) with its per-check columns for the first disagreeing users.
    from lendguard.visibility.dimensions import active_checks
    from lendguard.visibility.reference_sql import evaluate_reference
    from lendguard.visibility.service import load_risk_states

    sample = bad.head(show)
    checks = evaluate_reference({t: store.part_files(t) for t in EVENT_TYPES}, policy, as_of, load_risk_states(store), checks=True)
    checks = checks.join(sample.select("user_id"), on="user_id", how="semi")
    by_dim = {d: [c.code for c in active_checks(policy) if c.dimension == d] for d in DIMENSION_NAMES}
    for row in sample.iter_rows(named=True):
        sql_row = checks.filter(pl.col("user_id") == row["user_id"]).to_dicts()
        sql_row = sql_row[0] if sql_row else {}
        dims = [d for d in DIMENSION_NAMES if row[f"dim_{d}"] != row[f"dim_{d}_sql"]]
        print(f"  user {row['user_id']}: visible ours={row['visible']} sql={row['visible_sql']}")
        for d in dims:
            print(f"    dim_{d}: ours pass={row[f'dim_{d}']} sql pass={row[f'dim_{d}_sql']}")
            for code in by_dim[d]:
                print(f"      {code}: ours={row.get(code)!s:<15} sql blocks={sql_row.get(code)}")
    return rate_


# ---- 5. API latency ------------------------------------------------------------------------
def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def measure_api(data_dir: Path, policy: Policy, as_of: AsOf, sample: int = 1000, fresh: int = 100) -> dict:
    """p50/p99 of GET /v1/users/{id}/visibility through a real `lendguard serve` process.

    `cached`: users whose decision row the population run left in the decision cache (the
    normal serving path); `fresh`: users with no cached row, decided on the request by the
    same engine from their own events (after new events, or the first request of a day).
    """
    import shutil
    import socket
    import subprocess

    import httpx

    from lendguard.store.decisions import DecisionCache
    from lendguard.visibility.service import evaluate_population

    store = EventStore(data_dir)
    users = store.scan("profile").select("user_id").unique().collect()["user_id"].shuffle(seed=11)
    cached_users = users[:sample].to_list()
    fresh_users = users[sample : sample + fresh].to_list()
    # Decide the sampled users with the population engine and cache their rows, as
    # `lendguard evaluate` does for everyone.
    frames = {t: lf.filter(pl.col("user_id").is_in(cached_users)) for t, lf in store.scan_all().items()}
    decided = evaluate_population(frames, policy, as_of).decisions
    cache = DecisionCache(store.engine, policy.timezone)
    cache.clear()
    cache.put(decided, as_of.at, policy.sha256)

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    lendguard = shutil.which("lendguard") or str(Path(sys.executable).parent / "lendguard")
    server = subprocess.Popen(
        [lendguard, "serve", "--port", str(port), "-d", str(data_dir)] + (["--policy", policy.source] if policy.source else []),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(timeout=30) as client:
            for _ in range(300):
                try:
                    if client.get(f"{base}/v1/health").status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.2)
            query = {"as_of": as_of.at.isoformat()}

            def timed(user: str) -> float:
                started = time.perf_counter()
                response = client.get(f"{base}/v1/users/{user}/visibility", params=query)
                elapsed = (time.perf_counter() - started) * 1000
                assert response.status_code == 200, (user, response.status_code, response.text[:200])
                return elapsed

            for user in cached_users[:50]:
                timed(user)  # warm-up (connection, first imports)
            cached_ms = [timed(u) for u in cached_users]
            fresh_ms = [timed(u) for u in fresh_users]
    finally:
        server.terminate()
        server.wait(timeout=30)
        cache.clear()
    result = {
        "cached_p50": _percentile(cached_ms, 50),
        "cached_p99": _percentile(cached_ms, 99),
        "fresh_p50": _percentile(fresh_ms, 50),
        "fresh_p99": _percentile(fresh_ms, 99),
        "requests": len(cached_ms) + len(fresh_ms),
    }
    print(
        f"  API over HTTP: cached decisions p50 {result['cached_p50']:.1f} ms p99 {result['cached_p99']:.1f} ms "
        f"({len(cached_ms)} requests); decided on request p50 {result['fresh_p50']:.1f} ms p99 {result['fresh_p99']:.1f} ms ({len(fresh_ms)} requests)"
    )
    return result


# ---- main -----------------------------------------------------------------------------------
def add_store_arguments(parser: argparse.ArgumentParser) -> None:
    """The options that choose the synthetic store and evaluation (shared with benchmarks/gate.py)."""
    parser.add_argument("--users", type=int, default=DEFAULT_USERS, help="synthetic users to generate (default 1,000,000)")
    parser.add_argument("--data-dir", help="event store directory (default /tmp/lendguard-bench-<users>)")
    parser.add_argument("--reuse", action="store_true", help="reuse an existing store in the data dir instead of regenerating")
    parser.add_argument("--seed", type=int, default=7, help="generator seed (default 7)")
    parser.add_argument("--as-of", default=DEFAULT_AS_OF, help=f"evaluation time, ISO 8601 (default {DEFAULT_AS_OF})")
    parser.add_argument("--policy", help="policy file (default: the shipped default policy)")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    add_store_arguments(parser)
    parser.add_argument("--skip-limit", action="store_true", help="do not run the DuckDB reference query")
    parser.add_argument("--show", type=int, default=10, help="disagreeing users to list (default 10)")
    parser.add_argument("--api", action="store_true", help="also measure the API's single-user latency (p50/p99 over HTTP)")
    parser.add_argument("--phase", choices=["ours", "limit"], help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.phase == "ours":
        phase_ours(args)
        return 0
    if args.phase == "limit":
        phase_limit(args)
        return 0

    policy = load_policy(args.policy)
    print(f"policy {policy.version} ({policy.sha256[:12]}), {os.cpu_count()} CPUs, polars {pl.__version__}")
    store, as_of, users, events, gen_seconds = prepare_store(args, policy)
    data_dir = store.data_dir
    warm_file_cache(store)

    print("evaluating with the engine (fresh process) ...", flush=True)
    ours, ours_flags = run_phase("ours", data_dir, as_of, args)
    print(
        f"  features {ours['seconds_features']:.1f} s, checks {ours['seconds_checks']:.1f} s, "
        f"evaluate_store {ours['seconds_total']:.1f} s (CPU {ours.get('cpu_seconds', 0):.1f} s, load avg before {ours.get('load_before', 0):.1f}), peak RSS {gib(ours['peak_rss'])} "
        f"(at start {gib(ours['rss_before'])}), {ours['users']:,} users x {ours['columns']} columns, "
        f"visible {ours['visible']:,}"
    )
    limit = limit_flags = None
    agreement = None
    if not args.skip_limit:
        print("evaluating with the single DuckDB query (fresh process) ...", flush=True)
        limit, limit_flags = run_phase("limit", data_dir, as_of, args)
        print(
            f"  query {limit['seconds_total']:.1f} s on {limit['threads']} threads (CPU {limit.get('cpu_seconds', 0):.1f} s, "
            f"load avg before {limit.get('load_before', 0):.1f}), peak RSS {gib(limit['peak_rss'])} "
            f"(at start {gib(limit['rss_before'])}), {limit['users']:,} users, visible {limit['visible']:,}"
        )
        agreement = compare(ours_flags, limit_flags, store, policy, as_of, args.show)

    api = measure_api(data_dir, policy, as_of) if args.api else None

    full = ours["seconds_total"]
    feats = ours["seconds_features"]
    print()
    print(f"users {users:,}  events {events:,}" + (f"  (generated in {gen_seconds:.1f} s)" if gen_seconds else ""))
    print(f"features       : {feats:.1f} s  ({rate(users, feats)})")
    print(f"full evaluation: {full:.1f} s  ({rate(users, full)})   target <= {TARGET_SECONDS:.0f} s  {verdict(full <= TARGET_SECONDS)}")
    peak_gib = ours["peak_rss"] / GIB
    print(f"peak memory    : {peak_gib:.2f} GiB                 target <= {TARGET_MEMORY_GIB:.0f} GiB  {verdict(peak_gib <= TARGET_MEMORY_GIB)}")
    if limit is not None:
        ratio = full / limit["seconds_total"]
        print(
            f"duckdb limit   : {limit['seconds_total']:.1f} s  ({rate(users, limit['seconds_total'])}), "
            f"peak {gib(limit['peak_rss'])}  ratio ours/limit {ratio:.2f}  target <= {TARGET_RATIO}  {verdict(ratio <= TARGET_RATIO)}"
        )
        print(f"agreement      : {agreement:.2f} % of users (visible and all 8 dimensions)")
        print(
            f"cpu time       : ours {ours['cpu_seconds']:.1f} s, limit {limit['cpu_seconds']:.1f} s "
            f"(ratio {ours['cpu_seconds'] / limit['cpu_seconds']:.2f}); load average before the runs "
            f"{ours['load_before']:.1f} / {limit['load_before']:.1f} on {os.cpu_count()} CPUs"
        )
    else:
        print(f"cpu time       : ours {ours['cpu_seconds']:.1f} s; load average before the run {ours['load_before']:.1f} on {os.cpu_count()} CPUs")
    if api is not None:
        print(
            f"api explain    : p99 {api['cached_p99']:.1f} ms served from the decision cache   target <= {TARGET_API_P99_MS:.0f} ms  "
            f"{verdict(api['cached_p99'] <= TARGET_API_P99_MS)}; decided on request p99 {api['fresh_p99']:.1f} ms"
        )
    return 0 if agreement in (None, 100.0) else 1


if __name__ == "__main__":
    sys.exit(main())
