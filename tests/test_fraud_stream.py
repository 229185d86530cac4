"""The fraud engine end to end: crash and restart from a checkpoint, the CLI (run, status,
test-rule), the HTTP feed, policy validation of rules, and window arithmetic by property."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from conftest import SYNTH_AS_OF
from fastapi.testclient import TestClient
from fraud_support import at, consents, login, numbered
from hypothesis import given, settings
from hypothesis import strategies as st
from lendguard.fraud.windows import KeyWindow

from lendguard.fraud.book import transitions
from lendguard.policy import PolicyError, default_policy_path, load_policy

POLICY = load_policy()
LENDGUARD = [sys.executable, "-m", "lendguard.cli.main"]


def lendguard(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run([*LENDGUARD, *args], capture_output=True, text=True, timeout=600)
    if check:
        assert done.returncode == 0, done.stderr
    return done


@pytest.fixture(scope="module")
def stream(tmp_path_factory) -> Path:
    """A synthetic population's events (planted fraud included) as one stream in event-time order."""
    import polars as pl

    from lendguard.events.files import write_events
    from lendguard.store.events import EventStore
    from lendguard.synth.generate import generate_population

    folder = tmp_path_factory.mktemp("stream")
    store = EventStore(folder / "store")
    summary = generate_population(store, POLICY, 1200, SYNTH_AS_OF, seed=3)
    write_events({t: store.scan(t).collect() for t in summary.events_by_type}, folder / "unordered.jsonl")
    lines = pl.read_csv(folder / "unordered.jsonl", has_header=False, separator="\x1f", quote_char=None, schema={"line": pl.String})
    ordered = lines.with_columns(pl.col("line").str.json_path_match("$.ts").str.to_datetime(time_zone="UTC").alias("ts")).sort("ts", maintain_order=True)
    (folder / "stream.jsonl").write_text("\n".join(ordered["line"].to_list()) + "\n")
    return folder / "stream.jsonl"


@pytest.fixture(scope="module")
def small_checkpoints(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("policy")
    source = default_policy_path()
    for companion in ("geography.csv", *sorted(p.name for p in source.parent.glob("consent-*.md"))):
        (folder / companion).write_bytes((source.parent / companion).read_bytes())
    text = source.read_text().replace("checkpoint_every = 2000000", "checkpoint_every = 3000")
    (folder / "policy.toml").write_text(text)
    return folder / "policy.toml"


def _outcome(data_dir: Path) -> tuple[set, dict, Counter]:
    from lendguard.reviews.service import ReviewService
    from lendguard.store.events import EventStore
    from lendguard.visibility.service import load_risk_states

    store = EventStore(data_dir)
    moves = {(t["transition_id"], t["user_id"], t["from_level"], t["to_level"], t["at"], t["rule_id"]) for t in transitions(store.engine)}
    risk = load_risk_states(store)
    levels = dict(zip(risk["user_id"], risk["risk_level"], strict=True))
    reviews = Counter(r.user_id for r in ReviewService.open(data_dir, POLICY).find(kind="r2_verification"))
    return moves, levels, reviews


def test_a_killed_run_restarted_from_its_checkpoint_equals_an_uninterrupted_one(stream, small_checkpoints, tmp_path):
    lendguard("fraud", "run", "-e", str(stream), "-d", str(tmp_path / "whole"), "--policy", str(small_checkpoints))
    expected = _outcome(tmp_path / "whole")
    assert len(expected[0]) > 10, "the stream should raise some levels"

    crashed = tmp_path / "crashed"
    checkpoint = crashed / "fraud" / "checkpoint-default.bin"
    process = subprocess.Popen([*LENDGUARD, "fraud", "run", "-e", str(stream), "-d", str(crashed), "--policy", str(small_checkpoints)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not checkpoint.exists() and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.002)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    middle = _outcome(crashed)
    assert middle[0] < expected[0]  # it stopped part-way

    done = lendguard("fraud", "run", "-e", str(stream), "-d", str(crashed), "--policy", str(small_checkpoints), "--json")
    assert json.loads(done.stdout)["skipped"] >= 3000
    assert _outcome(crashed) == expected


def test_run_is_idempotent_and_status_explains(stream, tmp_path):
    lendguard("fraud", "run", "-e", str(stream), "-d", str(tmp_path))
    again = json.loads(lendguard("fraud", "run", "-e", str(stream), "-d", str(tmp_path), "--json").stdout)
    assert again["applied"] == 0 and again["transitions"] == 0
    user = transitions(__import__("lendguard.store.events", fromlist=["EventStore"]).EventStore(tmp_path).engine)[0]["user_id"]
    status = json.loads(lendguard("fraud", "status", user, "-d", str(tmp_path), "--json").stdout)
    assert status["risk_level"] in ("R0", "R1", "R2", "R3") and status["transitions"]


def test_test_rule_backtests_a_draft_on_stored_events(stream, tmp_path):
    from lendguard.events.files import read_raw_events
    from lendguard.events.ingest import ingest
    from lendguard.store.events import EventStore

    ingest(read_raw_events(stream), "test", EventStore(tmp_path), POLICY)
    draft = tmp_path / "draft.toml"
    draft.write_text(
        '[[fraud.rules]]\nid = "FR90"\nname = { zh = "同一设备超过2个账户", en = "A device linked to more than 2 accounts" }\n'
        'kind = "distinct_count"\nevent_type = "login"\nkey = "device_id"\nfield = "user_id"\nwindow = "30d"\n'
        'threshold = 2\nsignal_to = "members"\nlevel = "R1"\n'
    )
    report = json.loads(lendguard("fraud", "test-rule", "--rule", str(draft), "-d", str(tmp_path), "--json").stdout)
    assert report["rule_id"] == "FR90" and report["users_hit"] >= report["users_hit_by_each_rule"].get("FR01", 0) > 0
    assert 0 < report["users_hit_with_other_signals"] <= report["users_hit"]
    assert EventStore(tmp_path).engine  # the backtest wrote nothing
    assert transitions(EventStore(tmp_path).engine) == []

    draft.write_text('[[fraud.rules]]\nid = "FR91"\nname = { zh = "x", en = "x" }\nkind = "count"\nevent_type = "login"\nkey = "gadget"\nwindow = "1h"\nthreshold = 2\nlevel = "R1"\n')
    failed = lendguard("fraud", "test-rule", "--rule", str(draft), "-d", str(tmp_path), check=False)
    assert failed.returncode == 2 and "FR91" in failed.stderr and "no field 'gadget'" in failed.stderr


def test_posted_events_feed_the_engine_and_hide_the_entry(tmp_path):
    from lendguard.api.app import create_app

    client = TestClient(create_app(tmp_path, POLICY))
    events = [e for u in "abcd" for e in consents(u, POLICY)] + [login(u, at(minutes=i), device="farm") for i, u in enumerate("abcd")]
    body = {"events": [json.loads(raw) for _, raw in numbered(events)]}
    answer = client.post("/v1/events", json=body).json()
    raised = {(t["user_id"], t["to_level"], t["rule_id"]) for t in answer["risk_transitions"]}
    assert raised == {(u, "R2", "FR01") for u in "abcd"}
    again = client.post("/v1/events", json=body).json()  # a retry: duplicates, nothing applied twice
    assert again["risk_transitions"] == [] and len(again["duplicates"]) == len(events)
    decision = client.get("/v1/users/a/visibility", params={"as_of": at(minutes=10).isoformat()}).json()
    assert "AF01" in decision["reason_codes"]


@pytest.mark.parametrize(
    "old, new, words",
    [
        ('kind = "distinct_count"\nevent_type = "login"\nkey = "device_id"', 'kind = "distinct_count"\nevent_type = "logins"\nkey = "device_id"', "unknown event type 'logins'"),
        ('field = "lbs_province"', 'field = "lbs_provinces"', "no field 'lbs_provinces'"),
        ('window = "2h"', 'window = "2 hours"', "is not a duration"),
        ('id = "FR02"', 'id = "FR01"', "'FR01' is used by another rule"),
        ('threshold = 0.8', 'threshold = 1.8', "less than or equal to 1"),
        ('kind = "entropy"', 'kind = "median"', "kind"),
    ],
)
def test_bad_rules_are_refused_naming_the_rule_and_field(tmp_path, old, new, words):
    source = default_policy_path()
    for companion in ("geography.csv", *sorted(p.name for p in source.parent.glob("consent-*.md"))):
        (tmp_path / companion).write_bytes((source.parent / companion).read_bytes())
    text = source.read_text()
    assert old in text
    (tmp_path / "policy.toml").write_text(text.replace(old, new, 1))
    with pytest.raises(PolicyError) as caught:
        load_policy(tmp_path / "policy.toml")
    assert "fraud" in str(caught.value) and words in str(caught.value)


# ---- windows by property -----------------------------------------------------------------------
WIDTH = 100


def _recount(inside: list[tuple[str, float]]) -> tuple[Counter, float, float]:
    """(counts, entropy in bits, top-2 share of the weights) counted afresh: the oracle."""
    counts = Counter(v for v, _ in inside)
    n = sum(counts.values())
    entropy = -sum(c / n * math.log2(c / n) for c in counts.values()) if n else 0.0
    sums: Counter = Counter()
    for v, w in inside:
        sums[v] += w
    total = sum(sums.values())
    top2 = sum(sorted(sums.values(), reverse=True)[:2]) / total if total > 0 else 0.0
    return counts, entropy, top2


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 1000), st.sampled_from("abcdefg"), st.integers(1, 5)), min_size=1, max_size=60), st.booleans())
def test_the_running_tally_equals_a_recount_of_the_window(entries, weighted):
    """In time order, the incremental tally of (t - width, t] equals counting it afresh
    (unweighted windows count every entry as 1), and the evidence is its newest ids."""
    entries = sorted(entries, key=lambda e: e[0])
    if not weighted:
        entries = [(t, v, 1) for t, v, _ in entries]
    window = KeyWindow(weighted)
    for i, (t, value, weight) in enumerate(entries):
        window.push(t, value, float(weight), f"e{i}", WIDTH, WIDTH + 50)
        inside = [(v, float(w)) for (u, v, w) in entries[: i + 1] if t - WIDTH < u <= t]
        counts, entropy, top2 = _recount(inside)
        assert window.tally.counts == counts and window.tally.n == len(inside)
        assert math.isclose(window.tally.entropy(), entropy, abs_tol=1e-9)
        assert math.isclose(window.tally.top_share(2), top2, abs_tol=1e-9)
        ids = [f"e{k}" for k, (u, _, _) in enumerate(entries[: i + 1]) if t - WIDTH < u <= t]
        assert window.evidence_of(window.lo, len(window.times)) == ids[-20:]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 40), st.integers(0, 5)), min_size=1, max_size=80))
def test_the_habit_counts_values_per_day(days_values):
    """The entropy rules' habit: per-day value counts, summed over any range of days, equal
    counting the same events afresh; pruning keeps every day it promises to keep."""
    window = KeyWindow(False, True)
    days_values = sorted(days_values)
    for day, value in days_values:
        window.count_day(day, value, 1_000, 0)
    for first, end in [(0, 41), (5, 20), (39, 41), (10, 10)]:
        inside = [v for d, v in days_values if first <= d < end]
        entropy, n = window.habit_entropy(first, end)
        assert n == len(inside)
        assert math.isclose(entropy, _recount([(v, 1.0) for v in inside])[1], abs_tol=1e-9)
    pruned = KeyWindow(False, True)
    for day, value in days_values:
        pruned.count_day(day, value, 4, day - 10)  # prune beyond 4 slots, keeping the last 10 days
    newest = days_values[-1][0]
    kept = [v for d, v in days_values if d >= newest - 10]
    assert pruned.habit_entropy(newest - 10, newest + 1)[1] == len(kept)


def test_a_window_pickles_to_an_equal_window():
    """A checkpoint restores every part of a window: entries, tally, evidence and habit."""
    import pickle

    window = KeyWindow(True, True)
    for i in range(50):
        window.push(i * 10, "abc"[i % 3], float(i % 7), f"e{i}", 200, 260)
        window.count_day(i // 10, i % 3, 100, 0)
    window.push(455, "c", 2.0, "late", 200, 260)  # a late entry, placed at its time
    copy = pickle.loads(pickle.dumps(window))
    for name in ("values", "ids", "lo", "counts", "sums", "n", "total", "c_log_c"):
        assert getattr(copy, name) == getattr(window, name), name
    assert list(copy.times) == list(window.times) and list(copy.weights) == list(window.weights)
    assert copy.habit_entropy(0, 10) == window.habit_entropy(0, 10)
    copy.push(600, "a", 1.0, "next", 200, 260)
    window.push(600, "a", 1.0, "next", 200, 260)
    assert copy.counts == window.counts and copy.evidence_of(copy.lo, len(copy.times)) == window.evidence_of(window.lo, len(window.times))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 1000), st.sampled_from("abc")), min_size=2, max_size=40), st.data())
def test_late_entries_land_at_their_event_time(entries, data):
    """Entries pushed in any order within the lateness keep the same sorted content as in order."""
    lateness = 200
    shuffled = data.draw(st.permutations(entries))
    window = KeyWindow()
    newest = None
    kept = []
    for i, (t, value) in enumerate(shuffled):
        if newest is not None and t < newest - lateness:
            continue  # the engine refuses these before they reach a window
        newest = t if newest is None else max(newest, t)
        window.push(t, value, 1.0, f"e{i}", WIDTH, WIDTH + lateness)
        kept.append(t)
    assert list(window.times) == sorted(window.times)
    # Nothing still needed is forgotten: every kept entry newer than newest - width - lateness is there.
    needed = sorted(t for t in kept if t > newest - WIDTH - lateness)
    assert [t for t in window.times if t > newest - WIDTH - lateness] == needed


# ---- NATS JetStream end to end -------------------------------------------------------------------
def _nats_up() -> bool:
    import socket

    try:
        with socket.create_connection(("127.0.0.1", 4222), timeout=1):
            return True
    except OSError:
        return False


@pytest.mark.skipif(not _nats_up(), reason="no NATS server with JetStream on 127.0.0.1:4222 (.ci/run starts one)")
def test_the_engine_consumes_jetstream_from_its_checkpoint(tmp_path):
    import uuid

    from lendguard.fraud.stream_nats import DEFAULT_URL, connect

    name = f"LGTEST_{uuid.uuid4().hex[:8].upper()}"
    subject = f"lgtest.{name.lower()}"
    events = [e for u in "abcd" for e in consents(u, POLICY)] + [login(u, at(minutes=i), device="farm") for i, u in enumerate("abcd")]
    file = tmp_path / "events.jsonl"
    file.write_bytes(b"\n".join(raw for _, raw in numbered(events)) + b"\n")
    common = ["--url", DEFAULT_URL, "--stream", name, "--subject", subject]
    try:
        lendguard("fraud", "publish", str(file), *common)
        first = json.loads(lendguard("fraud", "consume", "-d", str(tmp_path / "d"), *common, "--max", "13", "--idle", "1", "--json").stdout)
        assert first["applied"] == 13 and first["transitions"] == 0  # the farm's fourth login not read yet
        second = json.loads(lendguard("fraud", "consume", "-d", str(tmp_path / "d"), *common, "--idle", "1", "--json").stdout)
        assert second["applied"] == len(events) - 13 and second["skipped"] == 0
        assert second["transitions_by_rule"] == {"FR01": 4}
        third = json.loads(lendguard("fraud", "consume", "-d", str(tmp_path / "d"), *common, "--idle", "1", "--json").stdout)
        assert third["applied"] == 0 and third["transitions"] == 0
    finally:
        import asyncio

        async def drop() -> None:
            client = await connect(DEFAULT_URL)
            try:
                await client.jetstream().delete_stream(name)
            finally:
                await client.close()

        asyncio.run(drop())
