"""The command line end to end, run as a user would (a real `lendguard` process)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from lendguard.events.schema import EVENT_CLASSES

pytestmark = pytest.mark.slow
AS_OF = "2026-11-24T00:00:00+00:00"


def run(*args: str, check: bool = True, env: dict | None = None) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "lendguard.cli.main", *args]
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "COLUMNS": "120", **(env or {})}, timeout=300)
    if check and done.returncode != 0:
        raise AssertionError(f"{command} exited {done.returncode}\nstdout:\n{done.stdout}\nstderr:\n{done.stderr}")
    return done


@pytest.mark.parametrize("command", ["synth", "ingest", "evaluate", "explain", "schema", "serve", "demo", "policy"])
def test_every_command_has_help(command):
    assert "Usage" in run(command, "--help").stdout


@pytest.fixture(scope="module")
def cli_data(tmp_path_factory) -> Path:
    data = tmp_path_factory.mktemp("cli")
    out = run("synth", "--users", "800", "--seed", "5", "--as-of", AS_OF, "-d", str(data / "store"), "--export", str(data / "events.jsonl"))
    assert "stored" in out.stdout
    return data


@pytest.fixture(scope="module")
def store_decisions(cli_data: Path):
    """`lendguard evaluate` of the store (once per module; any test may run first under xdist)."""
    return run("evaluate", "-d", str(cli_data / "store"), "--out", str(cli_data / "decisions"))


def test_evaluate_the_store_writes_decisions_and_report(cli_data: Path, store_decisions):
    assert "Loan entry visible to" in store_decisions.stdout
    table = pl.read_parquet(cli_data / "decisions" / "decisions.parquet")
    assert table.height == 800 and table["user_id"].n_unique() == 800
    lines = (cli_data / "decisions" / "decisions.jsonl").read_text().splitlines()
    assert len(lines) == 800
    first = json.loads(lines[0])
    assert {"user_id", "visible", "reason_codes", "policy_version", "policy_sha256"} <= set(first)
    html = (cli_data / "decisions" / "report.html").read_text()
    assert "plotly" in html.lower()


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet"])
def test_evaluate_an_events_file_matches_the_store(cli_data: Path, store_decisions, suffix: str):
    source = cli_data / "events.jsonl"
    if suffix == ".parquet":
        from lendguard.store.events import EventStore

        source = cli_data / "events.parquet"
        if not source.exists():
            from lendguard.events.files import write_events

            store = EventStore(cli_data / "store")
            write_events({t: store.scan(t).collect() for t in EVENT_CLASSES}, source)
    out_dir = cli_data / f"from-file{suffix}"
    run("evaluate", "--events", str(source), "--as-of", AS_OF, "--out", str(out_dir), "--no-report")
    from_file = pl.read_parquet(out_dir / "decisions.parquet").sort("user_id")
    from_store = pl.read_parquet(cli_data / "decisions" / "decisions.parquet").sort("user_id")
    assert from_file["visible"].to_list() == from_store["visible"].to_list()
    assert from_file["reason_codes"].to_list() == from_store["reason_codes"].to_list()


def test_evaluate_a_file_with_bad_events_keeps_them(tmp_path: Path, cli_data: Path):
    lines = (cli_data / "events.jsonl").read_text().splitlines()[:300]
    broken = json.loads(lines[5])
    broken["amount"] = "-5"
    lines[5] = json.dumps(broken)
    lines.append("{not json")
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(lines) + "\n")
    done = run("evaluate", "--events", str(path), "--as-of", AS_OF, "--out", str(tmp_path / "out"), "--no-report")
    assert f"{path}:6: field 'amount'" in done.stderr
    assert f"{path}:301" in done.stderr
    rejected = [json.loads(l) for l in (tmp_path / "out" / "rejected.jsonl").read_text().splitlines()]
    assert [r["position"] for r in rejected] == [6, 301]


def test_explain_readable_and_json(cli_data: Path, store_decisions):
    table = pl.read_parquet(cli_data / "decisions" / "decisions.parquet")
    hidden = table.filter(~pl.col("visible"))["user_id"][0]
    readable = run("explain", hidden, "-d", str(cli_data / "store")).stdout
    assert "HIDDEN" in readable and "FAIL" in readable and "->" in readable
    document = json.loads(run("explain", hidden, "-d", str(cli_data / "store"), "--json").stdout)
    assert document["visible"] is False
    failing = [c for d in document["dimensions"] for c in d["checks"] if c["status"] == "fail"]
    assert failing and all(c["advice"]["text"]["zh"] and c["advice"]["text"]["en"] for c in failing)
    assert run("explain", "nobody", "-d", str(cli_data / "store"), check=False).returncode == 1


def test_ingest_reports_rejections_and_exit_code(tmp_path: Path):
    path = tmp_path / "events.jsonl"
    good = {"type": "login", "event_id": "l1", "user_id": "u1", "ts": "2026-11-01T10:00:00+08:00", "device_id": "d", "device_model": "m", "os": "ios", "client_version": "8.0.41", "ip": "10.0.0.1"}
    path.write_text(json.dumps(good) + "\n" + json.dumps({**good, "event_id": "l2", "client_version": "eight"}) + "\n")
    done = run("ingest", str(path), "-d", str(tmp_path / "d"), check=False)
    assert done.returncode == 1
    assert "field 'client_version'" in done.stderr
    assert "accepted 1" in done.stdout


def test_schema_prints_json_schema():
    document = json.loads(run("schema").stdout)
    assert set(document["discriminator"]["mapping"]) == set(EVENT_CLASSES)
    payment = json.loads(run("schema", "--type", "payment").stdout)
    assert "amount" in payment["properties"]
    assert run("schema", "--type", "nope", check=False).returncode == 2


def test_bad_policy_is_refused_with_the_key(tmp_path: Path, cli_data: Path):
    from lendguard.policy import default_policy_path

    text = default_policy_path().read_text().replace("min_payments_per_month = 15", "min_payments_per_month = -3")
    (tmp_path / "policy.toml").write_text(text)
    (tmp_path / "geography.csv").write_text((default_policy_path().parent / "geography.csv").read_text())
    done = run("evaluate", "-d", str(cli_data / "store"), "--policy", str(tmp_path / "policy.toml"), check=False)
    assert done.returncode == 2
    assert "visibility.credit.min_payments_per_month" in done.stderr
    assert "valid" in run("policy", "check", str(default_policy_path())).stdout


def test_evaluate_empty_store_says_what_to_do(tmp_path: Path):
    done = run("evaluate", "-d", str(tmp_path / "empty"), check=False)
    assert done.returncode == 2 and "lendguard synth" in done.stderr


def test_consent_withdrawal_retention_and_access_log_export(tmp_path: Path, cli_data: Path):
    import shutil

    store = tmp_path / "store"
    shutil.copytree(cli_data / "store", store)
    user = "u00000007"
    run("explain", user, "-d", str(store))
    out = run("consent", "withdraw", user, "deep_credit", "-d", str(store), "--at", "2026-11-24T01:00:00+00:00")
    assert "withdrew deep_credit" in out.stdout
    shown = json.loads(run("consent", "show", user, "--json", "-d", str(store)).stdout)
    assert not any(g["scope"] == "deep_credit" for g in shown["active"])
    assert shown["history"][-1]["action"] == "withdraw"
    assert run("consent", "grant", user, "deep_credit", "--purpose", "resale", "-d", str(store), check=False).returncode == 2

    run("retention", "run", "-d", str(store), "--at", "2026-12-20T00:00:00+00:00")
    wealth = pl.concat([pl.read_parquet(p) for p in (store / "events" / "wealth_holding").glob("*.parquet")])
    assert user not in wealth["user_id"].to_list() and wealth.height > 0

    export = tmp_path / "access.csv"
    run("export", "access-log", "-d", str(store), "--from", "2026-01-01T00:00:00", "--out", str(export))
    lines = pl.read_csv(export)
    assert {"at", "actor", "engine", "purpose", "category", "user_id"} <= set(lines.columns)
    assert user in lines["user_id"].to_list()
    assert run("export", "access-log", "-d", str(store), "--from", "2027-01-02", "--to", "2027-01-01", check=False).returncode == 2
