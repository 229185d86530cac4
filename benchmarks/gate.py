"""Benchmark the data gate's overhead on the full visibility evaluation (SPEC §4; target <= 10%).

    .venv/bin/python benchmarks/gate.py [--users 1000000] [--data-dir DIR] [--reuse] [--rounds 2]

Uses the visibility benchmark's synthetic store (/tmp/lendguard-bench-<users>; generated
when missing or without --reuse) and times, alternately in one process, --rounds times each:

* gated:   `evaluate_store`, what production runs: grants in force, rows only for
           covered users, the payment aggregate for the others, availability flags,
           every check, and the access log (population users file + rows);
* ungated: the same feature code and checks on the raw frames with every use marked
           available (no grants, no filtering, no aggregate, no access log): the
           engine as it would be without the gate, the peer this overhead is measured
           against. It exists only in this script.

Reports the best time of each, the overhead ratio, and checks the two agree for every
user whose grants cover every use (the gate must change nothing for them).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time
from pathlib import Path

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent))

from visibility import add_store_arguments, prepare_store, warm_file_cache  # noqa: E402

from lendguard.consent.gate import GatedData  # noqa: E402
from lendguard.features.build import compute_features  # noqa: E402
from lendguard.features.window import AsOf  # noqa: E402
from lendguard.policy import load_policy  # noqa: E402
from lendguard.reviews.service import active_check_overrides  # noqa: E402
from lendguard.store.events import EventStore  # noqa: E402
from lendguard.visibility.check import DIMENSIONS  # noqa: E402
from lendguard.visibility.data_use import VISIBILITY_USES  # noqa: E402
from lendguard.visibility.engine import evaluate_features, override_columns  # noqa: E402
from lendguard.visibility.service import evaluate_store, load_risk_states  # noqa: E402

TARGET_OVERHEAD = 0.10
FLAGS = ("visible", *(f"dim_{d}" for d in DIMENSIONS))


def ungated_data(store: EventStore) -> GatedData:
    """Every stored row, every use available: the engine's input without a gate."""
    users = store.scan_users()
    if users is None:
        users = pl.concat([lf.select("user_id").unique() for lf in store.scan_all().values()]).unique()
    everyone = users.collect().with_columns(pl.lit(True).alias(use.key) for use in VISIBILITY_USES.uses)
    now = dt.datetime.now(dt.timezone.utc)
    return GatedData(store.scan_all(), {}, everyone, {}, now, users)


def run_ungated(store: EventStore, policy, as_of: AsOf) -> tuple[pl.DataFrame, float]:
    started = time.perf_counter()
    overrides = override_columns(active_check_overrides(store.engine), policy)
    features = compute_features(ungated_data(store), as_of, policy, load_risk_states(store), store.scan_users(), overrides)
    decisions = evaluate_features(features, policy, as_of)
    return decisions, time.perf_counter() - started


def run_gated(store: EventStore, policy, as_of: AsOf) -> tuple[pl.DataFrame, float, pl.DataFrame]:
    started = time.perf_counter()
    result = evaluate_store(store, policy, as_of, actor="benchmark")
    return result.decisions, time.perf_counter() - started, result.gated.availability


def agreement(gated: pl.DataFrame, ungated: pl.DataFrame, availability: pl.DataFrame) -> tuple[int, int]:
    """(users whose grants cover every use, how many of them differ between the two runs)."""
    keys = [use.key for use in VISIBILITY_USES.uses]
    covered = availability.filter(pl.all_horizontal(keys)).select("user_id")
    left = gated.join(covered, on="user_id", how="semi").select("user_id", *FLAGS)
    right = ungated.join(covered, on="user_id", how="semi").select("user_id", *FLAGS)
    joined = left.join(right, on="user_id", how="full", coalesce=True, suffix="_raw")
    differs = joined.filter(pl.any_horizontal([pl.col(f).ne_missing(pl.col(f"{f}_raw")) for f in FLAGS]))
    return covered.height, differs.height


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_store_arguments(parser)
    parser.add_argument("--rounds", type=int, default=2, help="timed runs of each variant, alternating (default 2)")
    args = parser.parse_args(argv)

    policy = load_policy(args.policy)
    print(f"policy {policy.version} ({policy.sha256[:12]}), {os.cpu_count()} CPUs, polars {pl.__version__}")
    store, as_of, users, events, _ = prepare_store(args, policy)
    warm_file_cache(store)

    gated_seconds: list[float] = []
    ungated_seconds: list[float] = []
    for round_ in range(1, args.rounds + 1):
        raw, seconds = run_ungated(store, policy, as_of)
        ungated_seconds.append(seconds)
        print(f"round {round_}: ungated {seconds:.1f} s", flush=True)
        del raw
        decisions, seconds, availability = run_gated(store, policy, as_of)
        gated_seconds.append(seconds)
        print(f"round {round_}: gated   {seconds:.1f} s", flush=True)
    raw, _ = run_ungated(store, policy, as_of)  # untimed: for the agreement check
    covered, differ = agreement(decisions, raw, availability)

    best_gated, best_raw = min(gated_seconds), min(ungated_seconds)
    overhead = best_gated / best_raw - 1
    uncovered = decisions.height - covered
    print()
    print(f"users {users:,}  events {events:,}")
    print(f"ungated evaluation : {best_raw:.1f} s (best of {len(ungated_seconds)}: {', '.join(f'{s:.1f}' for s in ungated_seconds)})")
    print(f"gated evaluation   : {best_gated:.1f} s (best of {len(gated_seconds)}: {', '.join(f'{s:.1f}' for s in gated_seconds)}), access log included")
    verdict = "OK" if overhead <= TARGET_OVERHEAD else "MISSED"
    print(f"gate overhead      : {overhead * 100:+.1f} %   target <= {TARGET_OVERHEAD * 100:.0f} %  {verdict}")
    print(
        f"agreement          : {covered - differ:,} of {covered:,} users whose grants cover every use decide the same "
        f"({uncovered:,} users lack some grant and differ by design)"
    )
    return 0 if differ == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
