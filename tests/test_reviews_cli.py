"""`lendguard review ...` end to end on a small synthetic data directory (Typer's runner, one real process)."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys

import polars as pl
import pytest
from sqlalchemy import insert
from typer.testing import CliRunner

from lendguard.cli import main as cli_main
from lendguard.cli.review_cmd import app
from lendguard.features.window import AsOf
from lendguard.policy import load_policy
from lendguard.store.catalog import risk_states
from lendguard.store.decisions import DecisionCache
from lendguard.store.events import EventStore
from lendguard.synth.generate import generate_population
from lendguard.visibility.service import VisibilityService

pytestmark = pytest.mark.slow
AS_OF = dt.datetime(2026, 11, 24, tzinfo=dt.timezone.utc)
runner = CliRunner()


def social() -> pl.Expr:
    """A social-graph check failed or warned: reviewing the decision touches the social graph."""
    from lendguard.visibility.dimensions import active_checks

    policy = load_policy()
    active = {c.code for c in active_checks(policy)}
    return pl.any_horizontal(pl.col(code).is_in(["fail", "warn"]) for code in policy.reviews.social_graph_checks if code in active)


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> dict:
    """200 synthetic users; the ids of users for each scenario, chosen from their decisions."""
    data_dir = tmp_path_factory.mktemp("reviews-cli") / "data"
    policy = load_policy()
    generate_population(EventStore(data_dir), policy, 200, AS_OF, seed=3)
    decisions = VisibilityService(EventStore(data_dir), policy).evaluate_all(AsOf.of(AS_OF, policy)).decisions
    plain = decisions.filter(~social() & (pl.col("KY01") == "fail") & (pl.col("AF01") == "pass"))["user_id"].to_list()
    touching = decisions.filter(social())["user_id"].to_list()
    assert len(plain) >= 4 and touching, "the synthetic population lacks the users these tests need"
    return {"dir": data_dir, "plain": plain, "social": touching[0]}


def review(data: dict, *args: str, code: int = 0) -> str:
    result = runner.invoke(app, [*args, "--data-dir", str(data["dir"])], env={"COLUMNS": "160"})
    assert result.exit_code == code, f"{args} exited {result.exit_code}:\n{result.output}\n{result.exception!r}"
    return result.output


def review_json(data: dict, *args: str):
    return json.loads(review(data, *args, "--json"))


def test_request_take_and_decide_with_separation_of_duties(data):
    user = data["plain"][0]
    opened = review_json(data, "request", user, "--reason", "my ID card is valid")
    assert opened["status"] == "requested" and opened["user_id"] == user and "KY01" in opened["decision"]["checks"]
    rid = opened["review_id"]
    assert "own_request" in review(data, "take", rid, "--reviewer", user, code=2)
    review(data, "take", rid, "--reviewer", "alice")
    assert "not_assigned_reviewer" in review(data, "decide", rid, "--reviewer", "bob", "--outcome", "upheld", code=2)
    assert "not_overridable" in review(data, "decide", rid, "--reviewer", "alice", "--outcome", "overridden", "--clear-check", "RG02", "--reason-code", "HR01", code=2)
    assert "reason_required" in review(data, "decide", rid, "--reviewer", "alice", "--outcome", "overridden", "--clear-check", "KY01", code=2)
    out = review(data, "decide", rid, "--reviewer", "alice", "--outcome", "overridden", "--clear-check", "KY01", "--reason-code", "HR01", "--system-line", "1000", "--new-line", "1300", code=2)
    assert "line_change_out_of_bounds" in out
    decided = review_json(data, "decide", rid, "--reviewer", "alice", "--outcome", "overridden", "--clear-check", "KY01", "--reason-code", "HR01", "--note", "ID checked")
    assert decided["status"] == "decided" and decided["changes"]["cleared_checks"] == ["KY01"]
    shown = review_json(data, "show", rid)
    assert [a["action"] for a in shown["actions"]] == ["requested", "taken", "decided"]
    assert "action log" in review(data, "show", rid)
    listed = review_json(data, "list", "--user", user)
    assert [r["review_id"] for r in listed] == [rid]
    assert rid in review(data, "list", "--status", "decided")


def test_a_social_review_waits_for_confirmation_and_cools_off(data):
    opened = review_json(data, "request", data["social"], "--kind", "automated_refusal")
    assert opened["status"] == "awaiting_confirmation" and opened["kind"] == "automated_refusal"
    assert "awaiting_confirmation" in review(data, "take", opened["review_id"], "--reviewer", "alice", code=2)
    confirmed = review_json(data, "confirm", opened["review_id"])
    assert confirmed["status"] == "requested" and confirmed["opens_at"]
    assert "cooling_off" in review(data, "take", opened["review_id"], "--reviewer", "alice", code=2)


def test_the_third_request_in_a_year_is_refused(data):
    user = data["plain"][1]
    for _ in range(2):
        rid = review_json(data, "request", user)["review_id"]
        assert review_json(data, "withdraw", rid, "--reason", "changed my mind")["status"] == "withdrawn"
    out = review(data, "request", user, code=2)
    assert "review_limit_reached" in out and "next_allowed_at" in out


def test_r2_review_lowers_the_risk_level_and_the_decision_follows(data):
    user = data["plain"][2]
    store = EventStore(data["dir"])
    with store.engine.begin() as conn:
        conn.execute(insert(risk_states).values(user_id=user, level="R2", since=AS_OF - dt.timedelta(days=1), rule_id="FR-test"))
    DecisionCache(store.engine, "Asia/Shanghai").invalidate([user])  # what the fraud engine does when it sets a level
    before = json.loads(runner.invoke(cli_main.app, ["explain", user, "--json", "-d", str(data["dir"])]).output)
    assert "AF01" in before["reason_codes"]

    assert "not_at_r2" in review(data, "open-r2", data["plain"][0], code=2)
    opened = review_json(data, "open-r2", user, "--by", "risk-bot")
    rid = opened["review_id"]
    assert opened["kind"] == "r2_verification" and opened["requested_by"] == "risk-bot"
    assert "own_request" in review(data, "take", rid, "--reviewer", "risk-bot", code=2)
    review(data, "take", rid, "--reviewer", "carol")
    assert "verification_required" in review(data, "decide", rid, "--reviewer", "carol", "--outcome", "overridden", "--risk-level", "R0", "--reason-code", "HR03", code=2)
    review(data, "verify", rid, "--reviewer", "carol", "--method", "face", "--passed")
    decided = review_json(data, "decide", rid, "--reviewer", "carol", "--outcome", "overridden", "--risk-level", "R0", "--reason-code", "HR03")
    assert decided["changes"]["risk_level"] == {"from": "R2", "to": "R0"}

    after = json.loads(runner.invoke(cli_main.app, ["explain", user, "--json", "-d", str(data["dir"])]).output)
    assert "AF01" not in after["reason_codes"]


def test_report_and_unknowns(data):
    assert "unknown_review" in review(data, "show", "rv-nope", code=2)
    assert "unknown_user" in review(data, "request", "no-such-user", code=2)
    rid = review_json(data, "request", data["plain"][3])["review_id"]
    review(data, "take", rid, "--reviewer", "dave")
    review(data, "decide", rid, "--reviewer", "dave", "--outcome", "upheld")
    assert "Overrides per reviewer" in review(data, "report")
    # A real process, as an operator would run it.
    done = subprocess.run(
        [sys.executable, "-m", "lendguard.cli.review_cmd", "report", "--json", "-d", str(data["dir"])],
        check=False, capture_output=True, text=True, env={**os.environ}, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    dave = next(row for row in report["reviewers"] if row["reviewer"] == "dave")
    assert dave["decided"] == 1 and dave["upheld"] == 1 and not dave["flagged"]
    assert report["alert_ratio"] == load_policy().reviews.override_rate_alert_ratio
