"""The fund-flow graph job: planted rings are found exactly, thresholds bite at their
boundaries, ids are stable, and only consented rows reach the graph."""

from __future__ import annotations

import datetime as dt
import json
import random
from dataclasses import replace
from decimal import Decimal

import polars as pl
import pytest
import typer
from sqlalchemy import func, insert, select
from support import AS_OF, as_of, frames_of, local
from typer.testing import CliRunner

from lendguard.cli.fraud_rings_cmd import register
from lendguard.consent.access_log import AccessLog
from lendguard.consent.grants import consent_event
from lendguard.events import schema as ev
from lendguard.fraud.graph import GraphRules, find_rings, ring_id, ring_signals
from lendguard.fraud.graph_job import (
    flagged_accounts,
    fraud_rings,
    list_rings,
    run_graph_job,
)
from lendguard.policy import load_policy
from lendguard.report.fraud_rings import rings_figure
from lendguard.store.catalog import risk_states
from lendguard.store.events import EventStore

POLICY = load_policy()
RULES = GraphRules()
RING = [f"g{i}" for i in range(6)]
FARM = [f"d{i}" for i in range(5)]
QUIET_RING = [f"h{i}" for i in range(6)]
FLAGGED = {"g0", "d0"}


# --- planted graph (frames straight into the pure functions) --------------------------------


def _transfers(rows: list[tuple[str, str, str, float]]) -> pl.DataFrame:
    """(user_id, direction, counterparty, amount) rows as a transfer frame."""
    return pl.DataFrame(rows, schema={"user_id": pl.String, "direction": pl.String, "counterparty": pl.String, "amount": pl.Float64}, orient="row")


def _logins(rows: list[tuple[str, str]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema={"user_id": pl.String, "device_id": pl.String}, orient="row")


def _cycle(members: list[str], times: int, amount: float, both_sides: bool = False) -> list[tuple[str, str, str, float]]:
    rows = []
    for i, sender in enumerate(members):
        receiver = members[(i + 1) % len(members)]
        rows += [(sender, "out", receiver, amount)] * times
        if both_sides:  # the receiver reports the same transfers: they must count once
            rows += [(receiver, "in", sender, amount)] * times
    return rows


@pytest.fixture(scope="module")
def planted() -> tuple[pl.DataFrame, pl.DataFrame]:
    """A 6-user money cycle and a 5-user device farm, each with one flagged member, tied
    into 200 users moving small sums at random; plus an unflagged cycle on its own."""
    rng = random.Random(7)
    crowd = [f"r{i:03d}" for i in range(200)]
    rows = [(u, "out", rng.choice([c for c in crowd if c != u]), 50.0) for u in crowd for _ in range(2)]
    rows += _cycle(RING, times=5, amount=1000.0, both_sides=True)
    rows += _cycle(QUIET_RING, times=5, amount=1000.0)
    rows += [("r000", "out", "g0", 50.0), ("d1", "out", "r001", 50.0)]  # one thin tie each to the crowd
    logins = [(u, f"dev-{u}") for u in crowd + RING + QUIET_RING] + [(u, "dev-farm") for u in FARM]
    return _transfers(rows), _logins(logins)


def test_planted_rings_are_found_with_exactly_their_members(planted):
    transfers, logins = planted
    rings = find_rings(transfers, logins, FLAGGED, RULES)
    assert [set(r.members) for r in rings] == [set(RING), set(FARM)]
    cycle, farm = rings
    assert cycle.kind == "fund_flow" and farm.kind == "device_sharing"
    assert cycle.flagged == ("g0",) and farm.flagged == ("d0",)
    assert cycle.edges == 6 and cycle.density == pytest.approx(0.4)
    assert cycle.amount == 30_000.0  # both sides reported each transfer; counted once
    assert farm.edges == 10 and farm.density == 1.0 and farm.amount == 0.0
    assert any("5 transfers totalling 5,000.00" in line for line in cycle.evidence)
    assert all("shared device dev-farm" in line for line in farm.evidence)


def test_a_ring_without_a_flagged_member_is_not_reported(planted):
    transfers, logins = planted
    assert not any(set(r.members) & set(QUIET_RING) for r in find_rings(transfers, logins, FLAGGED, RULES))
    found = find_rings(transfers, logins, FLAGGED | {"h2"}, RULES)
    assert set(QUIET_RING) in [set(r.members) for r in found]


@pytest.mark.parametrize(
    ("change", "ring_found", "farm_found"),
    [
        ({"min_members": 5}, True, True),
        ({"min_members": 6}, True, False),
        ({"min_members": 7}, False, False),
        ({"min_density": 0.4}, True, True),
        ({"min_density": 0.41}, False, True),
        ({"min_flagged": 2}, False, False),
    ],
)
def test_thresholds_change_the_outcome_at_their_boundaries(planted, change, ring_found, farm_found):
    transfers, logins = planted
    rules = replace(RULES, **change)
    found = [set(r.members) for r in find_rings(transfers, logins, FLAGGED, rules)]
    assert (set(RING) in found, set(FARM) in found) == (ring_found, farm_found)


def test_min_flagged_counts_flagged_members(planted):
    transfers, logins = planted
    rules = GraphRules(min_flagged=2)
    found = find_rings(transfers, logins, FLAGGED | {"g3"}, rules)
    assert [set(r.members) for r in found] == [set(RING)]
    assert found[0].flagged == ("g0", "g3")


def test_a_device_shared_by_more_users_than_a_ring_may_hold_links_no_one():
    crowd = [f"k{i}" for i in range(8)]
    logins = _logins([(u, "dev-cafe") for u in crowd])
    assert find_rings(_transfers([]), logins, {"k0"}, GraphRules(max_members=7)) == []
    assert len(find_rings(_transfers([]), logins, {"k0"}, GraphRules(max_members=8))) == 1


def test_ring_ids_are_deterministic(planted):
    transfers, logins = planted
    first = find_rings(transfers, logins, FLAGGED, RULES)
    again = find_rings(transfers.sample(fraction=1.0, shuffle=True, seed=3), logins.sample(fraction=1.0, shuffle=True, seed=4), FLAGGED, RULES)
    assert [(r.ring_id, r.members, r.evidence, r.links) for r in first] == [(r.ring_id, r.members, r.evidence, r.links) for r in again]
    assert first[0].ring_id == ring_id(list(reversed(RING))) == ring_id(RING)


def test_signals_go_to_the_users_of_a_ring_not_to_plain_accounts():
    # A cash-out loop through an account that is not a user (it only ever appears as a counterparty).
    rows = [("c1", "out", "c2", 500.0), ("c2", "out", "c3", 500.0), ("c3", "out", "acct-cash", 900.0), ("c1", "in", "acct-cash", 900.0)]
    rings = find_rings(_transfers(rows), _logins([]), {"c2"}, RULES)
    assert len(rings) == 1 and set(rings[0].members) == {"c1", "c2", "c3", "acct-cash"}
    assert rings[0].users == ("c1", "c2", "c3")
    signals = ring_signals(rings, AS_OF, GraphRules(level="R3"))
    assert sorted(s.user_id for s in signals) == ["c1", "c2", "c3"]
    assert {(s.rule_id, s.level, s.key, s.at) for s in signals} == {("graph_ring", "R3", rings[0].ring_id, AS_OF)}
    assert all(s.evidence == rings[0].members and s.details["size"] == 4 for s in signals)


def test_the_figure_draws_the_largest_rings_with_flagged_members_marked(planted):
    transfers, logins = planted
    rings = find_rings(transfers, logins, FLAGGED, RULES)
    fig = rings_figure(rings, top=1)
    assert len(fig.data) == 2  # links and members of the largest ring only
    members = fig.data[1]
    assert list(members.marker.color).count("#e76f51") == 1 and len(members.x) == 6
    assert rings_figure([]).layout.annotations[0].text == "no rings found"


# --- the job on a real store -----------------------------------------------------------------

ALL_SCOPES = ("basic_profile", "phone_device", "deep_credit")


def _user(user_id: str, scopes=ALL_SCOPES, sends_to: tuple[str, ...] | list[str] = (), device: str | None = None, days_ago: float = 5) -> list[ev.Event]:
    events: list[ev.Event] = [consent_event(user_id, s, "grant", None, POLICY, at=local(700), event_id=f"{user_id}-c-{s}") for s in scopes]
    for k, other in enumerate(sends_to):
        for n in range(3):
            events.append(ev.Transfer(event_id=f"{user_id}-t-{k}-{n}", user_id=user_id, ts=local(days_ago + n), kind="transfer", direction="out", amount=Decimal("800.00"), counterparty=other))
    events.append(ev.Login(event_id=f"{user_id}-login", user_id=user_id, ts=local(3), device_id=device or f"dev-{user_id}", device_model="Phone", os="android", client_version="8.0.45", ip="10.0.0.1"))
    return events


@pytest.fixture
def store(tmp_path) -> EventStore:
    """a1 -> a2 -> a3 -> a4 -> a1 (a1 at R2, a2 at R1); z1 shares a4's phone and pays a1.
    x (no deep_credit) pays a1 and a2; y1 (no phone_device) logs in on a4's phone; a3 and
    a4 paid old-acct before the look-back window."""
    events = (
        _user("a1", sends_to=["a2"]) + _user("a2", sends_to=["a3"]) + _user("a3", sends_to=["a4"])
        + _user("a4", sends_to=["a1"], device="dev-shared") + _user("z1", sends_to=["a1"], device="dev-shared")
        + _user("x", scopes=("basic_profile", "phone_device"), sends_to=["a1", "a2"])
        + _user("y1", scopes=("basic_profile", "deep_credit"), device="dev-shared")
    )
    events += [
        ev.Transfer(event_id=f"old-{u}", user_id=u, ts=local(120), kind="red_packet", direction="out", amount=Decimal("66.00"), counterparty="old-acct")
        for u in ("a3", "a4")
    ]
    store = EventStore(tmp_path / "data")
    store.append(frames_of(events), "test")
    with store.engine.begin() as conn:
        conn.execute(insert(risk_states), [
            {"user_id": "a1", "level": "R2", "since": AS_OF - dt.timedelta(days=2)},
            {"user_id": "a2", "level": "R1", "since": AS_OF - dt.timedelta(days=2)},
        ])
    return store


def test_the_job_finds_the_ring_from_consented_rows_only_and_stores_it(store):
    flagged = flagged_accounts(store)
    assert flagged == {"a1"}
    result = run_graph_job(store, POLICY, as_of(), flagged, RULES, actor="test", consent_at=AS_OF)
    assert [r.members for r in result.rings] == [("a1", "a2", "a3", "a4", "z1")]
    ring = result.rings[0]
    assert ring.kind == "mixed" and ring.flagged == ("a1",) and ring.amount == 5 * 3 * 800.0
    assert ring.edges == 6 and ring.density == pytest.approx(0.6)
    assert sorted(s.user_id for s in result.signals) == ["a1", "a2", "a3", "a4", "z1"]
    # Without the gate x (transfers), y1 (logins) and old-acct (paid outside the window) would join.
    raw = find_rings(store.scan("transfer").collect(), store.scan("login").collect(), flagged, RULES)
    assert set(raw[0].members) == {"a1", "a2", "a3", "a4", "z1", "x", "y1", "old-acct"}

    entries = AccessLog(store.engine, store.data_dir).entries()
    assert {(e["engine"], e["category"], e["purpose"], e["read_id"]) for e in entries} == {
        ("fraud_graph", "social_graph", "anti_fraud", result.read_id),
        ("fraud_graph", "device", "anti_fraud", result.read_id),
    }
    stored = list_rings(store.engine, limit=5)
    assert [(f.found_at, f.ring) for f in stored] == [(AS_OF, ring)]


def test_a_member_hanging_by_a_single_link_is_cut_off():
    rows = _cycle(RING, times=1, amount=100.0) + [("p1", "out", "g2", 100.0), ("p2", "out", "g0", 100.0), ("p2", "out", "g3", 100.0)]
    (ring,) = find_rings(_transfers(rows), _logins([]), {"g0"}, RULES)
    assert set(ring.members) == set(RING) | {"p2"}  # p2 pays two members; p1 only one


def test_a_user_without_deep_credit_for_anti_fraud_contributes_no_transfer_edges(store):
    # x granted deep_credit, but not for anti-fraud: still no edges.
    store.append(frames_of([consent_event("x", "deep_credit", "grant", ["credit_scoring"], POLICY, at=local(10), event_id="x-late")]), "test")
    result = run_graph_job(store, POLICY, as_of(), {"a1"}, RULES, consent_at=AS_OF)
    assert "x" not in result.rings[0].members
    # Once x grants it for anti-fraud, x's transfers to a1 tie x into the ring.
    store.append(frames_of([consent_event("x", "deep_credit", "grant", ["anti_fraud"], POLICY, at=local(9), event_id="x-af")]), "test")
    result = run_graph_job(store, POLICY, as_of(), {"a1"}, RULES, consent_at=AS_OF)
    assert "x" in result.rings[0].members


def test_a_rerun_at_the_same_time_replaces_its_rings(store):
    for _ in range(2):
        run_graph_job(store, POLICY, as_of(), {"a1"}, RULES, consent_at=AS_OF)
    later = as_of(at=AS_OF + dt.timedelta(days=1))
    run_graph_job(store, POLICY, later, {"a1"}, RULES, consent_at=AS_OF)
    with store.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(fraud_rings)).scalar() == 2
    assert [f.found_at for f in list_rings(store.engine)] == [later.at]  # each ring once, as last found


# --- the CLI ---------------------------------------------------------------------------------


def _app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def fraud() -> None:
        """The fraud group stand-in."""

    register(app)
    return app


def test_the_cli_runs_the_job_and_lists_the_rings(store):
    runner = CliRunner()
    args = ["rings", "--data-dir", str(store.data_dir), "--as-of", "2026-11-24T08:00:00"]  # Shanghai time: AS_OF
    assert "no rings found" in runner.invoke(_app(), args).output
    shown = runner.invoke(_app(), [*args, "--run"])
    assert shown.exit_code == 0, shown.output
    assert "1 rings, 5 member signals" in shown.output and ring_id(["a1", "a2", "a3", "a4", "z1"]) in shown.output
    listed = runner.invoke(_app(), [*args, "--json", "--limit", "1"])
    document = json.loads(listed.output)
    assert [(d["members"], d["flagged"], d["kind"]) for d in document] == [(["a1", "a2", "a3", "a4", "z1"], ["a1"], "mixed")]
    missing = runner.invoke(_app(), ["rings", "--data-dir", str(store.data_dir / "nowhere")])
    assert missing.exit_code == 2
