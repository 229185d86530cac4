"""The risk dashboard's data (`lendguard.dashboard`) and its routes, on a real data directory:
the 1,500-user synthetic population run through the fraud engine and the graph job, a
scorecard, a small loan book on the simulated clock, an evaluation and a human review, each
by the command a user would run. Every number is checked against a computation of its own
(raw Parquet and SQL, or the project's other path to the same figure), and parts that are
missing give empty sections, never an error."""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import re
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from fastapi.testclient import TestClient

from lendguard.api.app import create_app
from lendguard.dashboard.data import Dashboard, dashboard_data
from lendguard.features.window import AsOf
from lendguard.loans.database import open_ledger
from lendguard.loans.population import population_offers
from lendguard.policy import load_policy
from lendguard.reviews.service import ReviewService
from lendguard.security.tokens import issue_token
from lendguard.store.events import EventStore
from lendguard.visibility.check import FAIL, NOT_ASSESSABLE
from lendguard.visibility.service import VisibilityService

pytestmark = pytest.mark.slow
SECRET_HEX = "5eed" * 16
SECTIONS = {"population", "funnel", "authorization", "scores", "fraud", "reviews", "portfolio", "compliance"}
STATIC = Path(__file__).resolve().parent.parent / "src" / "lendguard" / "dashboard" / "static"


def run_cli(*args: str) -> str:
    command = [sys.executable, "-m", "lendguard.cli.main", *args]
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "COLUMNS": "160"}, timeout=300)
    if done.returncode != 0:
        raise AssertionError(f"{command} exited {done.returncode}\nstdout:\n{done.stdout}\nstderr:\n{done.stderr}")
    return done.stdout


def build_data_dir(population_dir: Path, data: Path) -> dict:
    """A data directory with every part the dashboard reads, made as `lendguard demo` makes
    one: fraud engine and graph job, a scorecard, a loan book, an evaluation; plus a user's
    review request that has waited 40 days (overdue)."""
    shutil.copytree(population_dir, data)
    d = str(data)
    run_cli("fraud", "run", "--from-store", "-d", d)
    run_cli("fraud", "rings", "--run", "-d", d)
    run_cli("score", "fit", "--dataset", "synthetic", "--out", str(data / "model"), "-d", d)
    run_cli("loan", "simulate", "--loans", "40", "--months", "6", "--seed", "3", "-d", d)
    run_cli("evaluate", "-d", d, "--no-jsonl", "--no-report")
    policy = load_policy()
    decisions = pl.read_parquet(data / "decisions" / "decisions.parquet")
    hidden = decisions.filter(~pl.col("visible")).sort("user_id")["user_id"][0]
    as_of = AsOf.of(decisions["as_of"][0], policy)
    document = VisibilityService(EventStore(data), policy).decision(hidden, as_of)
    asked = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=40)
    reviews = ReviewService.open(data, policy)
    review = reviews.request(hidden, document, now=asked)
    reviews.confirm(review.review_id, now=asked + dt.timedelta(hours=1))
    return {"dir": data, "overdue_review": review.review_id, "review_user": hidden}


@pytest.fixture(scope="module")
def built(population_dir, tmp_path_factory) -> dict:
    return build_data_dir(population_dir, tmp_path_factory.mktemp("dashboard") / "data")


@pytest.fixture(scope="module")
def data(built) -> dict:
    return dashboard_data(built["dir"], load_policy())


def sql(path: Path, query: str) -> list[tuple]:
    with sqlite3.connect(path) as conn:
        return conn.execute(query).fetchall()


# ---- every section, from a full data directory -----------------------------------------------


def test_every_section_is_computed(data):
    assert set(data["sections"]) == SECTIONS
    for name, section in data["sections"].items():
        assert section["status"] == "ok", (name, section.get("message"))
    assert data["synthetic"] is True
    assert data["policy"]["sha256"] == load_policy().sha256
    json.dumps(data, allow_nan=False)  # plain JSON: no NaN, no Decimal, no datetime


def test_population_matches_the_stored_decisions(built, data):
    decisions = pl.read_parquet(built["dir"] / "decisions" / "decisions.parquet")
    s = data["sections"]["population"]
    assert s["users"] == decisions.height == 1500
    assert s["visible"] == decisions["visible"].sum()
    assert s["visible_share"] == pytest.approx(decisions["visible"].mean())
    assert data["as_of"] == decisions["as_of"][0].isoformat()
    for row in s["dimensions"]:
        blocked = decisions.filter(pl.col(f"dim_{row['dimension']}").is_in([FAIL, NOT_ASSESSABLE])).height
        assert row["failing"] == blocked, row["dimension"]
    tiers = dict(decisions.group_by("region_tier").agg(pl.col("visible").mean()).iter_rows())
    for group in s["by_region_tier"]:
        if group["users"]:
            assert group["visible_share"] == pytest.approx(tiers[group["group"]]), group
    provinces = dict(decisions.group_by("province").len().iter_rows())
    assert {g["group"]: g["users"] for g in s["by_province"] if g["group"] != "missing"} == {k: v for k, v in provinces.items() if k is not None}
    codes = decisions.select(pl.col("reason_codes").explode()).drop_nulls().group_by("reason_codes").len()
    counts = dict(codes.iter_rows())
    for reason in s["top_reasons"]:
        assert reason["count"] == counts[reason["code"]]
    assert s["dimension_funnel"][-1]["remaining"] == s["visible"]  # passing all eight is being visible
    assert s["decided_under"]["current"] is True


def _latest_consents(data_dir: Path, at: dt.datetime) -> pl.DataFrame:
    """In force at `at`: each user's last action per scope and purpose (a withdrawal wins a tie), computed here on the raw parts."""
    raw = pl.read_parquet(sorted((data_dir / "events" / "consent").glob("*.parquet")))
    return (
        raw.filter(pl.col("ts") <= at)
        .explode("purposes")
        .with_columns((pl.col("action") == "withdraw").alias("withdrawn"))
        .sort("ts", "withdrawn")
        .group_by("user_id", "scope", "purposes")
        .agg(pl.col("withdrawn").last())
    )


def _granted(latest: pl.DataFrame, scope: str, purpose: str) -> set[str]:
    return set(latest.filter((pl.col("scope") == scope) & (pl.col("purposes") == purpose) & ~pl.col("withdrawn"))["user_id"].to_list())


def test_funnel_steps_follow_their_definitions(built, data):
    data_dir, policy = built["dir"], load_policy()
    decisions = pl.read_parquet(data_dir / "decisions" / "decisions.parquet")
    at = decisions["as_of"][0]
    latest = _latest_consents(data_dir, at)
    exposed = set(decisions.filter(pl.col("visible"))["user_id"].to_list())
    registered = exposed & _granted(latest, "phone_device", "account")
    authorized = registered & _granted(latest, "deep_credit", "credit_scoring")
    # Admission by the other path to it: a fresh evaluation of the store, as `loan simulate` uses.
    fresh = VisibilityService(EventStore(data_dir), policy).evaluate_all(AsOf.of(at, policy)).decisions
    offers = population_offers(fresh, policy, AsOf.of(at, policy).local_date)
    approved = authorized & set(offers.filter(pl.col("admitted"))["user_id"].to_list())
    with_lines = {row[0] for row in sql(data_dir / "ledger.sqlite", "SELECT DISTINCT user_id FROM credit_lines")}
    expected = {
        "exposure": len(exposed), "registration": len(registered), "authorization": len(authorized),
        "approval": len(approved), "line_opened": len(approved & with_lines),
    }
    s = data["sections"]["funnel"]
    assert s["population"] == decisions.height
    assert {step["step"]: step["users"] for step in s["steps"]} == expected
    assert expected["line_opened"] > 0 and expected["approval"] > expected["line_opened"]
    previous = decisions.height
    for step in s["steps"]:
        assert step["definition"]["en"] and step["definition"]["zh"] and step["title"]["zh"]
        assert step["of_previous"] == pytest.approx(step["users"] / previous)
        assert step["of_population"] == pytest.approx(step["users"] / decisions.height)
        previous = step["users"]
    admitted = offers.join(pl.DataFrame({"user_id": sorted(authorized)}), on="user_id", how="semi").group_by("product_id").agg(pl.col("admitted").sum())
    assert {p["product_id"]: p["admitted"] for p in s["by_product"]} == dict(admitted.iter_rows())


def test_refusal_rate_counts_registered_users_without_the_deep_credit_grant(built, data):
    at = pl.read_parquet(built["dir"] / "decisions" / "decisions.parquet")["as_of"][0]
    latest = _latest_consents(built["dir"], at)
    registered = _granted(latest, "phone_device", "account")
    authorized = _granted(latest, "deep_credit", "credit_scoring")
    withdrawn = set(latest.filter((pl.col("scope") == "deep_credit") & (pl.col("purposes") == "credit_scoring") & pl.col("withdrawn"))["user_id"].to_list())
    refused = registered - authorized
    s = data["sections"]["authorization"]
    assert s["registered"] == len(registered) > 0
    assert s["refused"] == len(refused) > 0
    assert s["refusal_rate"] == pytest.approx(len(refused) / len(registered))
    assert s["refused_withdrawn"] == len(refused & withdrawn)
    assert s["refused_never_granted"] == len(refused - withdrawn)
    deep = next(layer for layer in s["layers"] if layer["scope"] == "deep_credit" and layer["purpose"] == "credit_scoring")
    assert deep["in_force"] == len(authorized) and deep["scope_name"]["zh"]


def test_scores_cover_every_user_and_psi_follows_its_bins(built, data):
    s = data["sections"]["scores"]
    users = EventStore(built["dir"]).scan_users().collect().height
    assert s["users"] == users and sum(s["histogram"]["counts"]) == users
    assert len(s["histogram"]["edges"]) == len(s["histogram"]["counts"]) + 1
    bins = s["psi"]["bins"]
    assert sum(b["actual"] for b in bins) == pytest.approx(1.0, abs=1e-4)
    value = 0.0
    for b in bins:  # PSI = sum (a - e) ln(a / e), shares floored at 1e-4
        e, a = max(b["expected"], 1e-4), max(b["actual"], 1e-4)
        value += (a - e) * math.log(a / e)
    assert s["psi"]["index"] == pytest.approx(value, abs=1e-4)
    assert s["psi"]["level"] == ("alert" if value >= s["limits"]["psi_alert"] else "warn" if value >= s["limits"]["psi_warn"] else "ok")
    assert sum(s["levels"].values()) == len(s["model"]["features"]) + 1
    assert s["summary"]["p10"] <= s["summary"]["median"] <= s["summary"]["p90"]


def test_fraud_section_matches_the_catalogue(built, data):
    catalog = built["dir"] / "catalog.sqlite"
    s = data["sections"]["fraud"]
    levels = dict(sql(catalog, "SELECT level, COUNT(*) FROM risk_states GROUP BY level"))
    assert {row["level"]: row["users"] for row in s["levels"]} == {level: levels.get(level, 0) for level in ("R0", "R1", "R2", "R3")}
    assert sum(levels.values()) > 0
    totals = {(r, lv): n for r, lv, n in sql(catalog, "SELECT rule_id, to_level, COUNT(*) FROM risk_transitions GROUP BY rule_id, to_level")}
    assert {(r["rule_id"], r["to_level"]): r["total"] for r in s["by_rule"]} == totals
    start = dt.datetime.fromisoformat(s["window"]["from"]).astimezone(dt.timezone.utc).replace(tzinfo=None)
    end = dt.datetime.fromisoformat(s["window"]["to"]).astimezone(dt.timezone.utc).replace(tzinfo=None)
    recent = sql(catalog, f"SELECT COUNT(*) FROM risk_transitions WHERE at > '{start:%Y-%m-%d %H:%M:%S.%f}' AND at <= '{end:%Y-%m-%d %H:%M:%S.%f}'")[0][0]
    assert sum(r["recent"] for r in s["by_rule"]) == recent
    assert sum(sum(series["counts"]) for series in s["daily"]["series"]) == recent
    assert all(len(series["counts"]) == len(s["daily"]["days"]) for series in s["daily"]["series"])
    rings = sql(catalog, "SELECT COUNT(DISTINCT ring_id) FROM fraud_rings")[0][0]
    assert s["rings"]["total"] == rings > 0
    assert {k["kind"] for k in s["rings"]["by_kind"]} <= {"fund_flow", "device_sharing", "mixed"}
    assert s["latest"] and s["latest"][0]["at"] >= s["latest"][-1]["at"]
    assert s["detection"] is not None  # the synthetic population carries fraud labels
    for rule in s["by_rule"]:
        assert rule["rule_id"] in s["titles"]


def test_review_queue_counts_and_overdue(built, data):
    s = data["sections"]["reviews"]
    counts = dict(sql(built["dir"] / "catalog.sqlite", "SELECT status, COUNT(*) FROM reviews GROUP BY status"))
    assert {row["status"]: row["reviews"] for row in s["by_status"] if row["reviews"]} == counts
    assert s["open"] == sum(n for status, n in counts.items() if status in ("requested", "awaiting_confirmation", "in_review"))
    overdue = [o["review_id"] for o in s["overdue"]]
    assert built["overdue_review"] in overdue and s["overdue_count"] == len(overdue) == 1  # the R2 reviews were opened today


def test_portfolio_matches_the_ledger(built, data):
    ledger = built["dir"] / "ledger.sqlite"
    s = data["sections"]["portfolio"]
    loans, = sql(ledger, "SELECT COUNT(*) FROM loans")[0]
    active, outstanding = sql(ledger, "SELECT COUNT(*), SUM(principal_outstanding) FROM loans WHERE status = 'active'")[0]
    overdue_loans, overdue_principal = sql(ledger, "SELECT COUNT(*), COALESCE(SUM(principal_outstanding), 0) FROM loans WHERE status = 'active' AND bucket != 'current'")[0]
    assert s["totals"]["loans"] == loans == 40
    assert s["totals"]["active_loans"] == active
    assert s["totals"]["principal_outstanding"] == pytest.approx(outstanding / 100)
    assert s["overdue_rate"]["by_principal"] == pytest.approx(overdue_principal / outstanding)
    assert s["overdue_rate"]["by_loans"] == pytest.approx(overdue_loans / active)
    per_bucket = dict(sql(ledger, "SELECT bucket, COUNT(*) FROM loans WHERE status = 'active' GROUP BY bucket"))
    assert {b["bucket"]: b["loans"] for b in s["by_bucket"] if b["loans"]} == per_bucket
    assert [b["bucket"] for b in s["by_bucket"]] == ["current", *(b.name for b in load_policy().loans.delinquency_buckets)]
    assert s["problems"] == []


def test_compliance_matches_the_self_audit_command(tmp_path, data):
    run_cli("audit", "--own", "--out", str(tmp_path))
    s = data["sections"]["compliance"]
    for product in s["products"]:
        product_id = product["product_id"]
        assert product["name"] == load_policy().loans.products[product_id].name.model_dump()
        report = json.loads((tmp_path / product_id / "audit.json").read_text(encoding="utf-8"))
        assert product["counts"] == report["counts"]
        assert len(product["findings"]) == len(report["findings"])
        assert 0 < product["rules_checked"] <= s["rules"]
    assert s["findings"] == sum(s["totals"].values())


# ---- empty and broken parts ----------------------------------------------------------------


def test_a_missing_data_directory_gives_empty_sections_and_stays_missing(tmp_path):
    where = tmp_path / "nothing-here"
    out = Dashboard(where, load_policy()).data()
    for name, section in out["sections"].items():
        expected = "ok" if name == "compliance" else "empty"
        assert section["status"] == expected, (name, section)
        if expected == "empty":
            assert section["message"]["en"] and section["message"]["zh"]
    assert not where.exists()  # reading created nothing


def test_events_only_gives_empty_parts_with_messages(population_dir, tmp_path):
    data_dir = tmp_path / "data"
    shutil.copytree(population_dir, data_dir)
    open_ledger(data_dir).kw["bind"].dispose()  # a ledger without loans
    out = Dashboard(data_dir, load_policy()).data()
    status = {name: s["status"] for name, s in out["sections"].items()}
    assert status == {
        "population": "empty", "funnel": "empty", "authorization": "ok", "scores": "empty",
        "fraud": "empty", "reviews": "empty", "portfolio": "empty", "compliance": "ok",
    }
    assert "lendguard evaluate" in out["sections"]["population"]["message"]["en"]
    assert "score fit" in out["sections"]["scores"]["message"]["en"]
    assert "no loans" in out["sections"]["portfolio"]["message"]["en"]
    assert out["as_of"].startswith("2026-11-24")  # the synthetic population's


def test_a_broken_part_does_not_take_the_page_down(built, tmp_path):
    data_dir = tmp_path / "data"
    shutil.copytree(built["dir"], data_dir)
    (data_dir / "decisions" / "decisions.parquet").write_bytes(b"not parquet")
    out = Dashboard(data_dir, load_policy()).data()
    assert out["sections"]["population"]["status"] == "error"
    assert "could not be computed" in out["sections"]["population"]["message"]["en"]
    assert out["sections"]["fraud"]["status"] == out["sections"]["portfolio"]["status"] == "ok"


def test_results_are_cached_until_their_files_change(built, tmp_path):
    data_dir = tmp_path / "data"
    shutil.copytree(built["dir"], data_dir)
    board = Dashboard(data_dir, load_policy())
    first = board.data()
    second = board.data()
    timeless = SECTIONS - {"reviews"}  # the review queue is read afresh: overdue is a matter of the clock
    assert {n: second["sections"][n] for n in timeless} == {n: first["sections"][n] for n in timeless}
    assert second["seconds"] < first["seconds"]
    path = data_dir / "decisions" / "decisions.parquet"
    pl.read_parquet(path).head(1000).write_parquet(path)  # a new evaluation of fewer users
    third = board.data()
    assert third["sections"]["population"]["users"] == third["sections"]["funnel"]["population"] == 1000


# ---- the routes ------------------------------------------------------------------------------


@pytest.fixture
def client(built, monkeypatch) -> TestClient:
    monkeypatch.setenv("LENDGUARD_TOKEN_SECRET", SECRET_HEX)
    monkeypatch.setenv("LENDGUARD_AUTH", "on")  # conftest turns the gate off for feature suites; the dashboard's token handling is the point here
    return TestClient(create_app(built["dir"], load_policy()))


def bearer(role: str = "risk_analyst", **claims) -> dict[str, str]:
    return {"Authorization": "Bearer " + issue_token(bytes.fromhex(SECRET_HEX), role=role, subject="test", **claims)}


def test_the_json_route_serves_the_sections(client, data):
    response = client.get("/v1/dashboard", headers=bearer())
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body["sections"]) == SECTIONS
    for name in SECTIONS - {"reviews"}:  # reviews compare overdue times with the clock
        assert body["sections"][name] == data["sections"][name], name
    auditor = client.get("/v1/dashboard", headers=bearer("compliance_auditor"))
    assert auditor.status_code == 200


@pytest.mark.parametrize(
    ("headers", "status", "code"),
    [({}, 401, "unauthenticated"), ({"Authorization": "Bearer lg1.forged.token"}, 401, "invalid_token"), ("borrower", 403, "forbidden"), ("reviewer", 403, "forbidden")],
)
def test_the_json_route_refuses_without_a_dashboard_role(client, headers, status, code):
    if isinstance(headers, str):
        headers = bearer(headers, user_id="u00000001") if headers == "borrower" else bearer(headers)
    response = client.get("/v1/dashboard", headers=headers)
    assert response.status_code == status
    body = response.json()
    assert set(body) == {"error"} and body["error"]["code"] == code


def test_the_page_and_its_files_are_served_without_a_token(client):
    page = client.get("/dashboard")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["referrer-policy"] == "no-referrer"
    for name, kind in (("dashboard.js", "javascript"), ("dashboard.css", "css"), ("plotly.min.js", "javascript")):
        response = client.get(f"/dashboard/static/{name}")
        assert response.status_code == 200 and kind in response.headers["content-type"], name
    assert len(client.get("/dashboard/static/plotly.min.js").content) > 1_000_000  # the bundle shipped in the plotly package
    for name in ("../../security/roles.toml", "dashboard.html", "missing.js"):
        response = client.get(f"/dashboard/static/{name}")
        assert response.status_code == 404
    assert client.get("/dashboard/static/nope.js").json()["error"]["code"] == "not_found"


def test_the_page_loads_nothing_from_elsewhere():
    for name in ("dashboard.html", "dashboard.js", "dashboard.css"):
        text = (STATIC / name).read_text(encoding="utf-8")
        assert not re.search(r"https?://", text), name


def test_openapi_documents_the_data_route_only(client):
    document = client.get("/openapi.json").json()
    assert "/dashboard" not in document["paths"] and "/dashboard/static/{name}" not in document["paths"]
    operation = document["paths"]["/v1/dashboard"]["get"]
    assert operation["tags"] == ["dashboard"] and operation["summary"]
    schemas = document["components"]["schemas"]
    assert {"DashboardOut", "SectionOut", "SectionsOut"} <= set(schemas)
    assert set(schemas["SectionsOut"]["properties"]) == SECTIONS
