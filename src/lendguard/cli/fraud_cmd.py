"""`lendguard fraud ...`: run the streaming engine, look at levels and transitions, flag
accounts, and backtest a draft rule before it goes live."""

from __future__ import annotations

import datetime as dt
import json
import sys
import tomllib
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from lendguard.cli.common import (
    DEFAULT_DATA_DIR,
    DataDir,
    PolicyPath,
    _fail,
    _policy,
    _progress,
    console,
)
from lendguard.cli.fraud_stream_cmd import NatsUrl, StreamName, Subject  # noqa: E402
from lendguard.fraud.stream_nats import DEFAULT_STREAM, DEFAULT_SUBJECT, DEFAULT_URL  # noqa: E402

app = typer.Typer(help="Real-time anti-fraud: streaming rules, risk levels R1–R3, rings.", no_args_is_help=True)

NameOption = Annotated[str, typer.Option("--name", help="The engine's checkpoint name (one per source of events).")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]


def _print_report(report, as_json: bool) -> None:
    summary = report.as_dict()
    if report.latencies_ms:
        ordered = sorted(report.latencies_ms)
        summary["latency_ms_p50"] = round(ordered[len(ordered) // 2], 3)
        summary["latency_ms_p99"] = round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))], 3)
    if as_json:
        console.print_json(json.dumps(summary))
        return
    console.print(
        f"events {summary['received']:,}: applied {summary['applied']:,}, rejected {summary['rejected']:,} (dead letter), "
        f"skipped {summary['skipped']:,} (already applied), withheld from rules {summary['withheld']:,} (no grant for the purpose)"
    )
    console.print(f"signals {summary['signals']:,}, new transitions {summary['transitions']:,} in {summary['seconds']:.2f} s")
    for rule_id, n in sorted(summary["transitions_by_rule"].items()):
        console.print(f"  {rule_id}: {n:,}")


@app.command("run")
def run(
    events: Annotated[Optional[str], typer.Option("--events", "-e", help="JSON Lines or Parquet file of events, or - for stdin.")] = None,
    from_store: Annotated[bool, typer.Option("--from-store", help="Replay the stored events in event-time order instead.")] = False,
    days: Annotated[int, typer.Option(help="With --from-store: only the last this many days before the newest event.", min=1)] = 90,
    data_dir: DataDir = DEFAULT_DATA_DIR,
    policy: PolicyPath = None,
    name: NameOption = "default",
    as_json: JsonOption = False,
) -> None:
    """Feed events through the rules; new levels go to the risk book, R2 opens a review.

    Re-running the same file after a crash resumes after the last checkpoint."""
    from lendguard.events.files import EventFileError, numbered_lines, read_raw_events
    from lendguard.fraud.runner import FraudRunner

    if (events is None) == (not from_store):
        raise _fail("give either --events FILE (or -) or --from-store")
    loaded = _policy(policy)
    runner = FraudRunner(data_dir, loaded, name=name)
    if from_store:
        items, source = _stored(runner, loaded, days), f"store:{data_dir.resolve()}"
    elif events == "-":
        items, source = numbered_lines(sys.stdin.buffer), "stdin"
    else:
        path = Path(events)
        items, source = read_raw_events(path), f"file:{path.resolve()}"
    try:
        if as_json:  # stdout carries the JSON alone
            report = runner.feed(items, source)
        else:
            with _progress() as bar:
                task = bar.add_task("events", total=None)
                report = runner.feed(items, source, progress=lambda n: bar.advance(task, n))
    except EventFileError as exc:
        raise _fail(str(exc)) from exc
    report.transitions += runner.recover_due()
    runner.close()
    _print_report(report, as_json)


def _stored(runner, policy, days: int):
    """The store's events the rules read, last `days` days, numbered in event-time order."""
    import heapq

    import msgspec
    import polars as pl

    from lendguard.fraud.replay import stored_events

    types = ["consent", *{r.event_type for r in policy.fraud.rules if r.enabled}]
    newest = max((runner.store.scan(t).select(pl.col("ts").max()).collect().item() for t in types if t != "consent"), default=None)
    start = newest - dt.timedelta(days=days) if newest is not None else None
    consents = stored_events(runner.store, ["consent"])  # grants of any age apply
    others = stored_events(runner.store, [t for t in types if t != "consent"], start)
    merged = heapq.merge(consents, others, key=lambda e: e.ts)
    encoder = msgspec.json.Encoder()
    return ((number, encoder.encode(event)) for number, event in enumerate(merged, start=1))


@app.command("report")
def report(data_dir: DataDir = DEFAULT_DATA_DIR, as_json: JsonOption = False) -> None:
    """Precision and recall of each rule and of the graph job on planted fraud (synthetic data)."""
    from lendguard.fraud.evaluation import evaluate_detection, load_labels
    from lendguard.store.events import EventStore

    labels = load_labels(data_dir)
    if labels is None:
        raise _fail(f"no fraud labels in {data_dir} (only synthetic data has them: lendguard synth)")
    result = evaluate_detection(EventStore(data_dir).engine, labels)
    if as_json:
        console.print_json(json.dumps(result))
        return
    table = Table("detector", "targets", "users raised", "precision", "planted", "recall", title="Planted fraud found (SYNTHETIC data)")
    for row in result["rules"]:
        pct = lambda v: "–" if v is None else f"{v:.1%}"  # noqa: E731
        table.add_row(row["rule_id"], row["target_pattern"] or "–", f"{row['users_raised']:,}", pct(row["precision"]), f"{row['planted']:,}", pct(row["recall"]))
    console.print(table)
    share = result["false_positive_share"]
    console.print(
        f"users raised above R0: {result['users_raised']:,}; without a fraud label: {result['false_positives']:,}"
        + (f" ({share:.1%} false positives; seed 003 cites about 6.3%)" if share is not None else "")
    )


@app.command("consume")
def consume(
    data_dir: DataDir = DEFAULT_DATA_DIR,
    policy: PolicyPath = None,
    url: NatsUrl = DEFAULT_URL,
    stream: StreamName = DEFAULT_STREAM,
    subject: Subject = DEFAULT_SUBJECT,
    idle: Annotated[float, typer.Option(help="Stop after this many seconds without a message.")] = 5.0,
    max_messages: Annotated[Optional[int], typer.Option("--max", help="Stop after this many messages.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Consume a NATS JetStream subject from the checkpoint's sequence (exactly-once effect)."""
    from lendguard.fraud.nats_runner import StreamError, consume_into
    from lendguard.fraud.runner import FraudRunner

    loaded = _policy(policy)
    runner = FraudRunner(data_dir, loaded, name=f"nats-{stream}")
    try:
        report = consume_into(runner, url, stream, subject, idle_timeout=idle, max_messages=max_messages)
    except StreamError as exc:
        runner.close()  # keep what was applied before the error
        raise _fail(str(exc)) from exc
    report.transitions += runner.recover_due()
    runner.close()
    _print_report(report, as_json)


@app.command("status")
def status(user_id: str, data_dir: DataDir = DEFAULT_DATA_DIR, as_json: JsonOption = False) -> None:
    """A user's current risk level and the transitions that led there."""
    from lendguard.fraud.book import transitions
    from lendguard.store.events import EventStore
    from lendguard.visibility.service import load_risk_states

    store = EventStore(data_dir)
    level = load_risk_states(store, user_id)
    history = transitions(store.engine, user_id)
    current = level.to_dicts()[0] if level.height else {"risk_level": "R0", "risk_since": None, "risk_recovers_at": None}
    if as_json:
        console.print_json(json.dumps({"user_id": user_id, **current, "transitions": history}, default=str))
        return
    console.print(f"{user_id}: [bold]{current['risk_level']}[/] since {current['risk_since']}" + (f", recovers at {current['risk_recovers_at']}" if current["risk_recovers_at"] else ""))
    _transition_table(history)


@app.command("transitions")
def list_transitions(
    data_dir: DataDir = DEFAULT_DATA_DIR,
    user_id: Annotated[Optional[str], typer.Option("--user", help="Only this user's.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many, newest first.")] = 50,
    as_json: JsonOption = False,
) -> None:
    """Stored level transitions with their rule, time and evidence."""
    from lendguard.fraud.book import transitions
    from lendguard.store.events import EventStore

    rows = transitions(EventStore(data_dir).engine, user_id, limit)
    if as_json:
        console.print_json(json.dumps(rows, default=str))
        return
    _transition_table(rows)


def _transition_table(rows: list[dict]) -> None:
    table = Table("at (event time)", "user", "from", "to", "rule", "key", "details", "evidence")
    for row in rows:
        evidence = ", ".join(row["evidence"][:3]) + (" …" if len(row["evidence"]) > 3 else "")
        table.add_row(str(row["at"]), row["user_id"], row["from_level"], row["to_level"], row["rule_id"], row["rule_key"], json.dumps(row["details"], ensure_ascii=False), evidence)
    console.print(table)


@app.command("flag")
def flag(
    accounts: Annotated[list[str], typer.Argument(help="Account or user ids.")],
    reason: Annotated[str, typer.Option(help="Why (kept with the entry).")],
    data_dir: DataDir = DEFAULT_DATA_DIR,
    by: Annotated[str, typer.Option(help="Who flags.")] = "analyst",
) -> None:
    """Add accounts to the flagged list: fund flows with them hit the flagged-link rules."""
    from lendguard.fraud.flagged import flag_accounts
    from lendguard.store.events import EventStore

    added = flag_accounts(EventStore(data_dir).engine, accounts, reason, by)
    console.print(f"flagged {added} new account(s); a running engine picks them up when it next starts")


@app.command("test-rule")
def test_rule(
    rule: Annotated[Path, typer.Option("--rule", help="TOML file with one [[fraud.rules]] table (or a bare rule table).")],
    data_dir: DataDir = DEFAULT_DATA_DIR,
    policy: PolicyPath = None,
    start: Annotated[Optional[dt.datetime], typer.Option("--from", help="Replay events from this time (ISO).")] = None,
    end: Annotated[Optional[dt.datetime], typer.Option("--to", help="Replay events before this time (ISO).")] = None,
    as_json: JsonOption = False,
) -> None:
    """Backtest a draft rule on stored events: users it would hit, and how many had other signals."""
    from lendguard.fraud.backtest import DraftRuleError, backtest
    from lendguard.store.events import EventStore

    loaded = _policy(policy)
    try:
        document = tomllib.loads(rule.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise _fail(f"{rule}: {exc}") from exc
    drafts = document.get("fraud", {}).get("rules") or ([document] if "id" in document else [])
    if len(drafts) != 1:
        raise _fail(f"{rule}: expected exactly one rule ([[fraud.rules]] table), found {len(drafts)}")
    try:
        report = backtest(EventStore(data_dir), loaded, drafts[0], _utc(start), _utc(end))
    except DraftRuleError as exc:
        raise _fail(str(exc)) from exc
    summary = report.as_dict()
    if as_json:
        console.print_json(json.dumps(summary, default=str))
        return
    console.print(f"replayed {summary['events_replayed']:,} events")
    share = summary["share_with_other_signals"]
    console.print(
        f"{summary['rule_id']} would hit [bold]{summary['users_hit']:,}[/] users; "
        f"{summary['users_hit_with_other_signals']:,} of them had other signals" + (f" ({share:.1%})" if share is not None else "")
    )
    for rule_id, n in summary["users_hit_by_each_rule"].items():
        console.print(f"  {rule_id}: {n:,} users")


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=dt.timezone.utc)


# Commands kept in their own modules.
from lendguard.cli import fraud_rings_cmd, fraud_stream_cmd  # noqa: E402

fraud_rings_cmd.register(app)
fraud_stream_cmd.register(app)
