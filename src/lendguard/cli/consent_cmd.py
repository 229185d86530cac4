"""`lendguard consent|retention|export`: grants and withdrawals, retention, the regulator's export."""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import polars as pl
import typer
from rich.table import Table

from lendguard.cli.common import (
    DEFAULT_DATA_DIR,
    DataDir,
    PolicyPath,
    _fail,
    _policy,
    console,
)
from lendguard.store.catalog import as_utc
from lendguard.store.events import EventStore

consent_app = typer.Typer(help="Grant, withdraw and show a user's consents (SPEC §4).", no_args_is_help=True)
retention_app = typer.Typer(help="Delete raw data past its retention period or after a withdrawal.", no_args_is_help=True)
export_app = typer.Typer(help="Exports for the regulator.", no_args_is_help=True)

Purposes = Annotated[Optional[list[str]], typer.Option("--purpose", help="A purpose (repeat); default: every purpose of the scope.")]
When = Annotated[Optional[dt.datetime], typer.Option("--at", help="Time of the action (ISO; default now). For back-dated imports and tests.")]


def _change(action: str, user_id: str, scope: str, purposes, at, data_dir: Path, policy: Path | None) -> None:
    from lendguard.consent.grants import ConsentError
    from lendguard.consent.service import change_consent

    loaded = _policy(policy)
    try:
        change = change_consent(EventStore(data_dir), loaded, user_id, scope, action, purposes, at=as_utc(at))
    except (ConsentError, ValueError) as exc:
        raise _fail(str(exc)) from exc
    event = change.event
    verb = "granted" if action == "grant" else "withdrew"
    console.print(f"[green]{verb}[/] {scope} for {', '.join(event['purposes'])} — user {user_id}, event {event['event_id']} at {event['ts']}")


@consent_app.command("grant")
def grant(user_id: str, scope: str, purpose: Purposes = None, at: When = None, data_dir: DataDir = DEFAULT_DATA_DIR, policy: PolicyPath = None) -> None:
    """Record a grant of SCOPE (basic_profile, phone_device, deep_credit…) under the current consent text."""
    _change("grant", user_id, scope, purpose, at, data_dir, policy)


@consent_app.command("withdraw")
def withdraw(user_id: str, scope: str, purpose: Purposes = None, at: When = None, data_dir: DataDir = DEFAULT_DATA_DIR, policy: PolicyPath = None) -> None:
    """Withdraw SCOPE (all its purposes unless --purpose): its data are unused from now on."""
    _change("withdraw", user_id, scope, purpose, at, data_dir, policy)


@consent_app.command("show")
def show(
    user_id: str,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    data_dir: DataDir = DEFAULT_DATA_DIR,
) -> None:
    """The user's grants in force and the history of grants and withdrawals."""
    from lendguard.consent.service import user_consents

    record = user_consents(EventStore(data_dir), user_id)
    if as_json:
        sys.stdout.write(json.dumps(record, ensure_ascii=False, indent=2) + "\n")
        return
    table = Table(title=f"consents of {user_id} in force at {record['at']}")
    for column in ("scope", "purpose", "granted at"):
        table.add_column(column)
    for grant_row in record["active"]:
        table.add_row(grant_row["scope"], grant_row["purpose"], grant_row["granted_at"])
    console.print(table)
    history = Table(title="history")
    for column in ("time", "action", "scope", "purposes", "text", "event"):
        history.add_column(column)
    for row in record["history"]:
        history.add_row(row["ts"], row["action"], row["scope"], ", ".join(row["purposes"]), row["text_version"], row["event_id"])
    console.print(history)


@retention_app.command("status")
def retention_status(data_dir: DataDir = DEFAULT_DATA_DIR, policy: PolicyPath = None, at: When = None) -> None:
    """Scheduled deletions: withdrawals waiting for their date, and each category's cutoff."""
    from lendguard.consent.retention import schedule

    loaded = _policy(policy)
    now = as_utc(at) or dt.datetime.now(dt.timezone.utc)
    plan = schedule(EventStore(data_dir).scan("consent"), loaded, now)
    table = Table(title=f"retention at {now.isoformat()}")
    for column in ("category", "rows kept from", "withdrawals due", "withdrawals scheduled", "next deletion"):
        table.add_column(column)
    for name, cutoff in plan.cutoffs.items():
        rows = plan.withdrawn.filter(pl.col("category") == name)
        due = rows.filter(rows["due"]).height
        pending = rows.filter(~rows["due"])
        table.add_row(name, cutoff.date().isoformat(), str(due), str(pending.height), str(pending["delete_at"].min() or "-"))
    console.print(table)


@retention_app.command("run")
def retention_run(data_dir: DataDir = DEFAULT_DATA_DIR, policy: PolicyPath = None, at: When = None) -> None:
    """Delete what is due from every store and write one deletion record per category and type."""
    from lendguard.consent.retention import run_retention

    loaded = _policy(policy)
    report = run_retention(EventStore(data_dir), loaded, as_utc(at))
    if not report.records:
        console.print("nothing is due for deletion")
        return
    table = Table(title="deleted")
    for column in ("deletion", "category", "event type", "reason", "users", "rows", "dead-letter rows"):
        table.add_column(column)
    for r in report.records:
        table.add_row(r["deletion_id"], r["category"], r["event_type"], r["reason"], str(r["users"]), f"{r['rows']:,}", str(r["dead_letter_rows"]))
    console.print(table)
    console.print(f"[green]deleted[/] {report.rows:,} rows; deletion records written")


@export_app.command("access-log")
def export_access_log(
    start: Annotated[Optional[dt.datetime], typer.Option("--from", help="Start (inclusive, ISO; UTC if no zone).")] = None,
    end: Annotated[Optional[dt.datetime], typer.Option("--to", help="End (exclusive, ISO; UTC if no zone).")] = None,
    user: Annotated[Optional[str], typer.Option(help="Only this user's entries.")] = None,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Write .csv, .jsonl or .parquet (default: JSON Lines on stdout).")] = None,
    data_dir: DataDir = DEFAULT_DATA_DIR,
) -> None:
    """Every read of user data through the gate in [from, to): time, actor, engine, purpose, category, user."""
    from lendguard.consent.access_log import AccessLog

    if start and end and as_utc(start) >= as_utc(end):
        raise _fail(f"--from {start.isoformat()} is not before --to {end.isoformat()}")
    store = EventStore(data_dir)
    frame = AccessLog(store.engine, data_dir).export(as_utc(start), as_utc(end), user)
    if out is None:
        for row in frame.iter_rows(named=True):
            sys.stdout.write(json.dumps({**row, "at": row["at"].isoformat()}, ensure_ascii=False) + "\n")
        return
    suffix = out.suffix.lower()
    if suffix == ".csv":
        frame.write_csv(out)
    elif suffix == ".parquet":
        frame.write_parquet(out)
    elif suffix in (".jsonl", ".ndjson"):
        frame.write_ndjson(out)
    else:
        raise _fail(f"--out {out}: use a .csv, .jsonl or .parquet file")
    console.print(f"[green]exported[/] {frame.height:,} access-log lines to {out}")
